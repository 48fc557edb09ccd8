#pragma once
/// @file
/// Every rank of a data-parallel run must run the same config: `check_config_across_ranks`
/// exchanges a digest of it at start and, when the digests differ, names the first key whose
/// value differs and the ranks on each side. The comparison itself is a pure function
/// (`find_config_mismatch`) over flattened configs.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmhook {
namespace dist {

/// A config as key path -> value text pairs, sorted by path ("a.b[1].c" -> "3").
using FlatConfig = std::vector<std::pair<std::string, std::string>>;

/// Flattens `config`: objects and arrays are walked, every other value (and every empty object
/// or array) is one entry whose text is its JSON; a text longer than 64 characters is shortened
/// to its start plus a digest of the whole, so different values keep different texts.
FlatConfig flatten_config(const nlohmann::json& config);

/// A 64-bit FNV-1a digest of `config`'s canonical JSON text, as 16 hex digits.
std::string config_digest(const nlohmann::json& config);

/// The first key whose value differs between ranks.
struct ConfigMismatch {
  /// Key path ("train_cfg.max_epochs").
  std::string key;
  /// The distinct values in order of first appearance ("<missing>" where a rank lacks the key),
  /// each with the ranks that have it.
  std::vector<std::pair<std::string, std::vector<int>>> values;
  /// One line: "'train_cfg.max_epochs' is 2 on rank 0 and 3 on rank 1".
  std::string describe() const;
};

/// The first key path, in sorted order, whose value is not the same on every rank of
/// `per_rank` (index = rank); nullopt when all agree.
std::optional<ConfigMismatch> find_config_mismatch(const std::vector<FlatConfig>& per_rank);

/// Compares `config` across the ranks of the process group (nothing without one): every rank
/// sends a digest; when they differ, the flattened configs are gathered and every rank throws
/// the same kConfig Error naming the first differing key and the ranks.
void check_config_across_ranks(const nlohmann::json& config);

}  // namespace dist
}  // namespace mmhook
