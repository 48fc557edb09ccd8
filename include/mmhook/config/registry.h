#pragma once
/// @file
/// `Registry<T>`: named factories that build components from `type`-keyed config objects, as
/// MMEngine's registries do.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"

namespace mmhook {

/// What `Registry::build` does with an Error of code kInvalidArgument escaping a factory (a
/// component's constructor rejecting an option).
enum class FactoryErrors {
  kPropagate,     ///< rethrown unchanged
  kConfigAtPath,  ///< rethrown as a kConfig Error "<JSON path of the node>: <message>"
};

/// Factories by type name for one kind of component ("model", "dataset", "hook", ...).
/// `Args` are extra build arguments passed through to every factory (loops get the runner).
template <class T, class... Args>
class Registry {
 public:
  /// Builds a component from its config node (the `type` key is already consumed).
  using Factory = std::function<std::shared_ptr<T>(const ConfigNode&, Args...)>;

  /// `kind` names the registry in errors ("unknown model type 'Foo'"); `factory_errors` says
  /// whether `build` turns a factory's invalid-argument Errors into config Errors at the path.
  explicit Registry(std::string kind, FactoryErrors factory_errors = FactoryErrors::kPropagate)
      : kind_(std::move(kind)), factory_errors_(factory_errors) {}

  /// Adds a factory; registering a name twice is an invalid-argument Error.
  void add(const std::string& name, Factory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    MMHOOK_CHECK(!factories_.count(name), kind_, " type '", name, "' is already registered");
    factories_.emplace(name, std::move(factory));
  }
  /// Removes a factory; returns whether it existed.
  bool remove(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.erase(name) > 0;
  }
  /// True when `name` is registered.
  bool contains(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.count(name) > 0;
  }
  /// Registered names, sorted.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& kv : factories_) out.push_back(kv.first);
    return out;
  }
  /// Builds from `cfg["type"]`; an unknown type is a config Error naming the path, with a
  /// did-you-mean hint; after the factory ran, unread keys are config Errors too. With
  /// `FactoryErrors::kConfigAtPath`, an invalid-argument Error from the factory becomes a config
  /// Error "<cfg.path()>: <message>" ("config: <message>" at the root).
  std::shared_ptr<T> build(const ConfigNode& cfg, Args... args) const {
    const std::string type = cfg.type();
    Factory factory;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = factories_.find(type);
      if (it == factories_.end()) {
        std::vector<std::string> known;
        for (const auto& kv : factories_) known.push_back(kv.first);
        std::string hint = did_you_mean(type, known);
        cfg.fail("type", "unknown " + kind_ + " type '" + type + "'" +
                             (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      factory = it->second;
    }
    std::shared_ptr<T> out;
    try {
      out = factory(cfg, args...);
    } catch (const Error& e) {
      if (factory_errors_ != FactoryErrors::kConfigAtPath || e.code() != Code::kInvalidArgument)
        throw;
      MMHOOK_THROW(Code::kConfig, cfg.path().empty() ? "config" : cfg.path(), ": ", e.what());
    }
    cfg.check_unused();
    return out;
  }
  /// Name of the kind of component ("model").
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  FactoryErrors factory_errors_;
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;
};

}  // namespace mmhook
