#pragma once
/// @file
/// `LogProcessor`: MMEngine's formatter of message-hub scalars into log lines and tags, decoupled
/// from the runner through `LogContext`.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/engine/stage.h"
#include "mmhook/logging/message_hub.h"

namespace mmhook {

class ConfigNode;

/// The runner state a log line is built from (MMEngine reads these off the runner).
struct LogContext {
  /// Which loop is logging.
  Mode mode = Mode::kTrain;
  /// Index in the current dataloader pass (LoggerHook passes the loader length after an epoch).
  int64_t batch_idx = 0;
  /// `runner.epoch`.
  int64_t epoch = 0;
  /// `runner.iter` (0-based global training iteration).
  int64_t iter = 0;
  /// `runner.max_epochs`.
  int64_t max_epochs = 0;
  /// `runner.max_iters`.
  int64_t max_iters = 0;
  /// Length of the current mode's dataloader.
  int64_t dataloader_len = 0;
  /// False for a standalone val/test run (MMEngine's `_train_loop` is a dict or None).
  bool train_loop_built = true;
  /// Peak CUDA memory in MB; >= 0 adds "memory: N  " and `tag["memory"]`, -1 (default) omits it.
  int64_t memory_mb = -1;
};

/// Formats `MessageHub` scalars into MMEngine's log lines (`Epoch(train)  [2][ 2/20]  lr: ...`)
/// and tags (the dicts written to `scalars.json` and other backends).
class LogProcessor {
 public:
  /// LogProcessor options, named as MMEngine's constructor arguments.
  struct Options {
    /// Default smoothing window for keys matching `mean_pattern` (default 10).
    int64_t window_size = 10;
    /// Epoch-style line headers (default true).
    bool by_epoch = true;
    /// Entries `{data_src, log_name=data_src, method_name, window_size: int|"epoch"|"global"}`
    /// (default empty).
    nlohmann::json custom_cfg = nlohmann::json::array();
    /// Digits after the point for values (default 4).
    int num_digits = 4;
    /// Keep the `train/`, `val/` prefixes in tags (default false).
    bool log_with_hierarchy = false;
    /// ECMAScript regex: matching keys are smoothed with `mean(window_size)`, the others use
    /// `current()` (default `.*(loss|time|data_time|grad_norm).*`).
    std::string mean_pattern = ".*(loss|time|data_time|grad_norm).*";
  };

  /// One parsed `custom_cfg` entry.
  // NOLINT below: the implicit noexcept default constructor default-constructs a nlohmann::json,
  // whose throw clang-tidy follows is unreachable for null (see ProfilerHookOptions).
  struct CustomEntry {  // NOLINT(bugprone-exception-escape)
    /// Scalar key without the mode prefix.
    std::string data_src;
    /// Name in the tag (defaults to `data_src`).
    std::string log_name;
    /// HistoryBuffer statistic ("mean", "max", ...).
    std::string method_name;
    /// The raw window (null, integer, "epoch" or "global").
    nlohmann::json window_size;
  };

  /// Validates the options like MMEngine (invalid-argument Errors): duplicate `log_name`s, the
  /// same `data_src` overwritten twice, `window_size="epoch"` with `by_epoch=false`, bad
  /// window types, unknown entry keys, a bad `mean_pattern`.
  explicit LogProcessor(Options options);
  /// Builds from a `log_processor` config object (keys as in `Options`; `type` may be
  /// "LogProcessor"); config Errors name the JSON path.
  static LogProcessor from_config(const ConfigNode& cfg);

  /// `(tag, line)` after a train/val/test iteration (MMEngine `get_log_after_iter`).
  std::pair<nlohmann::ordered_json, std::string> get_log_after_iter(const MessageHub& hub,
                                                                    const LogContext& ctx) const;
  /// `(tag, line)` after a val/test epoch (MMEngine `get_log_after_epoch`); `ctx.mode` must be
  /// val or test. Non-scalar infos enter the tag only when `with_non_scalar`.
  std::pair<nlohmann::ordered_json, std::string> get_log_after_epoch(
      const MessageHub& hub, const LogContext& ctx, bool with_non_scalar = false) const;

  /// The options.
  const Options& options() const { return options_; }
  /// The parsed `custom_cfg` entries.
  const std::vector<CustomEntry>& custom_entries() const { return custom_; }

  /// Resolves a custom window: null → -1 (all), integer → itself, "epoch" → batch_idx+1,
  /// "global" → iter+1; invalid-argument Error for anything else.
  static int64_t parse_window_size(const nlohmann::json& window_size, const LogContext& ctx);
  /// MMEngine `_collect_scalars`: scalars of `ctx.mode` (prefix dropped unless `reserve_prefix`),
  /// smoothed or current, then `entries` applied.
  nlohmann::ordered_json collect_scalars(const MessageHub& hub, const LogContext& ctx,
                                         const std::vector<CustomEntry>& entries,
                                         bool reserve_prefix = false) const;
  /// MMEngine `_collect_non_scalars`: runtime infos of `ctx.mode`.
  nlohmann::ordered_json collect_non_scalars(const MessageHub& hub, const LogContext& ctx) const;
  /// MMEngine `_get_iter`: batch_idx+1 by epoch, iter+1 otherwise.
  int64_t get_iter(const LogContext& ctx) const;
  /// MMEngine `_get_epoch`: train epoch+1; val epoch (0 without a train loop); test Error.
  static int64_t get_epoch(const LogContext& ctx);

 private:
  struct Pattern;
  Options options_;
  std::vector<CustomEntry> custom_;
  std::shared_ptr<const Pattern> pattern_;  // compiled once, shared by copies
};

}  // namespace mmhook
