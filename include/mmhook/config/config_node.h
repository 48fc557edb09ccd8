#pragma once
/// @file
/// `ConfigNode`: a typed, path-aware view of one JSON object of a config. Every read names the
/// JSON path on error (`train_cfg.max_epochs: expected integer, got "ten"`), and
/// `check_unused()` rejects keys nobody read, with a did-you-mean hint.

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmhook {

/// Closest candidate to `name` by edit distance, or "" when none is close enough.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

/// Type name of a JSON value as used in error messages ("integer", "string", ...).
std::string json_type_name(const nlohmann::json& value);

/// A JSON object plus its path from the config root. Copies share the set of read keys.
class ConfigNode {
 public:
  /// Wraps `value` found at `path` ("" for the root). Throws a config Error unless it is an
  /// object (or null, treated as an empty object).
  ConfigNode(nlohmann::json value, std::string path);

  /// Path of this node ("" for the root, "model", "train_dataloader.dataset", ...).
  const std::string& path() const { return path_; }
  /// Path of a key of this node ("model.type").
  std::string key_path(const std::string& key) const;
  /// The wrapped JSON object.
  const nlohmann::json& json() const { return value_; }
  /// True when `key` is present and not null.
  bool has(const std::string& key) const;
  /// True when `key` is present (null included).
  bool contains(const std::string& key) const;
  /// Marks a key as read without reading it.
  void mark_used(const std::string& key) const;

  /// Reads `key` as T, or returns `fallback` when it is absent or null. Supported T: bool,
  /// int64_t, int, double, std::string, std::vector<int64_t>, std::vector<double>,
  /// std::vector<std::string>, nlohmann::json. Wrong type: config Error naming the path.
  template <class T>
  T get(const std::string& key, T fallback) const {
    if (!has(key)) {
      mark_used(key);
      return fallback;
    }
    return require<T>(key);
  }
  /// Reads `key` as T, or nullopt when absent or null.
  template <class T>
  std::optional<T> get_optional(const std::string& key) const {
    if (!has(key)) {
      mark_used(key);
      return std::nullopt;
    }
    return require<T>(key);
  }
  /// Reads `key` as T; absent or wrong type is a config Error naming the path.
  template <class T>
  T require(const std::string& key) const;

  /// The object at `key` as a node (absent or null gives an empty object).
  ConfigNode child(const std::string& key) const;
  /// The elements of the array at `key` that are objects, as nodes (`key[0]`, `key[1]`, ...).
  std::vector<ConfigNode> children(const std::string& key) const;
  /// The `type` key (required).
  std::string type() const { return require<std::string>("type"); }

  /// Throws a config Error naming the first key that was never read, with a did-you-mean hint
  /// among the read keys and `extra_known`.
  void check_unused(const std::vector<std::string>& extra_known = {}) const;

  /// Throws a config Error "<path>: <message>".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  nlohmann::json value_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_;
};

}  // namespace mmhook
