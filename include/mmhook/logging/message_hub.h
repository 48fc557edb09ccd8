#pragma once
/// @file
/// `MessageHub`: MMEngine's process-wide store of scalar histories and runtime information,
/// shared by the runner, hooks, optimiser wrappers and the log processor.

#include <cstdint>
#include <string>

#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include "mmhook/core/ordered_map.h"
#include "mmhook/logging/history_buffer.h"

namespace mmhook {

/// One entry of `MessageHub::update_scalars` given as MMEngine's `{'value': v, 'count': n}`.
struct ScalarValue {
  /// The value (a sum over `count` samples when `count > 1`).
  double value = 0.0;
  /// Number of samples the value stands for (default 1).
  int64_t count = 1;
};

/// Scalar histories (`log_scalars`) and runtime information (`runtime_info`), both in key
/// insertion order, plus a per-key `resumed` flag saying whether `state_dict()` keeps the key.
/// The most recently constructed live hub is the process's current instance.
/// Updates are not synchronised: one thread (the training loop) writes at a time.
class MessageHub {
 public:
  /// Creates a hub named `name` and makes it the current instance.
  explicit MessageHub(std::string name);
  /// If this hub is the current instance, there is no current instance afterwards.
  ~MessageHub();
  MessageHub(const MessageHub&) = delete;
  MessageHub& operator=(const MessageHub&) = delete;

  /// The current instance: the most recently created live hub, or (when there is none) a
  /// process-wide hub named "mmengine", created on first use.
  static MessageHub& get_current_instance();

  /// The hub's name.
  const std::string& name() const { return name_; }

  /// Appends `value` (with `count` samples) to the history of `key`, creating it when absent.
  /// No heap allocation when the key exists. Error if `resumed` differs from the key's flag.
  void update_scalar(const std::string& key, double value, int64_t count = 1, bool resumed = true);
  /// Appends the value of the one-element tensor `value` to the history of `key` without reading
  /// it now: the tensor is kept and read (one host read per pending value, no device sync per
  /// iteration) the next time any scalar is read (`get_scalar`, `log_scalars`, `state_dict`) or
  /// the same key is updated eagerly. The history then holds exactly what
  /// `update_scalar(key, value.item())` would have put there. The key is created (in insertion
  /// order) at once. `value` must not be modified in place afterwards (pass a detached result,
  /// e.g. a loss).
  void update_scalar_lazy(const std::string& key, const at::Tensor& value, bool resumed = true);
  /// Reads every pending lazy value into its history (every scalar read does this first).
  void flush_pending() const;
  /// `update_scalar(key, value)` for each entry, in order.
  void update_scalars(const OrderedMap<double>& values, bool resumed = true);
  /// `update_scalar(key, v.value, v.count)` for each entry, in order.
  void update_scalars(const OrderedMap<ScalarValue>& values, bool resumed = true);
  /// True when `key` has a scalar history.
  bool has_scalar(const std::string& key) const;
  /// The history of `key`; not-found Error naming the key and hub when absent.
  const HistoryBuffer& get_scalar(const std::string& key) const;
  /// All histories, in insertion order of their keys (pending lazy values read first).
  const OrderedMap<HistoryBuffer>& log_scalars() const;

  /// Sets (overwrites) runtime information `key`. Error if `resumed` differs from the key's flag.
  void update_info(const std::string& key, nlohmann::json value, bool resumed = true);
  /// `update_info` for each member of a JSON object (invalid-argument Error otherwise).
  void update_info_dict(const nlohmann::json& info, bool resumed = true);
  /// The information under `key`, or `fallback` when absent.
  nlohmann::json get_info(const std::string& key, nlohmann::json fallback = nullptr) const;
  /// True when `key` holds runtime information.
  bool has_info(const std::string& key) const;
  /// Removes and returns the information under `key`, or returns `fallback` when absent.
  nlohmann::json pop_info(const std::string& key, nlohmann::json fallback = nullptr);
  /// All runtime information, in insertion order.
  const OrderedMap<nlohmann::json>& runtime_info() const { return runtime_info_; }

  /// Whether `key` is flagged resumed; not-found Error when the key was never set.
  bool is_resumed(const std::string& key) const;
  /// Every key's resumed flag, in insertion order.
  const OrderedMap<bool>& resumed_keys() const { return resumed_keys_; }

  /// `{"log_scalars": {key: {"log_history": [...], "count_history": [...], "max_length": n}},
  ///   "runtime_info": {key: value}, "resumed_keys": {key: flag}}` as a generic dict (plain
  /// dicts/lists/numbers/strings/None for Python's `torch.load`). Scalars and info flagged
  /// `resumed=false` are left out; `resumed_keys` lists every key (as MMEngine does).
  c10::IValue state_dict() const;
  /// Loads a `state_dict()` (or MMEngine-shaped plain dict): replaces the listed histories,
  /// overwrites the listed info, sets the flags of keys present. Checkpoint Error naming the
  /// bad key for malformed input.
  void load_state_dict(const c10::IValue& state);

 private:
  void set_resumed(const std::string& key, bool resumed);

  std::string name_;
  // mutable: reads fold the pending lazy values in first.
  mutable OrderedMap<HistoryBuffer> log_scalars_;
  mutable std::vector<std::pair<std::string, at::Tensor>> pending_;
  mutable std::vector<std::string> pending_keys_;  // distinct keys in pending_
  OrderedMap<nlohmann::json> runtime_info_;
  OrderedMap<bool> resumed_keys_;
};

}  // namespace mmhook
