#pragma once
/// @file
/// `Runner`: builds a training run from a JSON config (docs/design.md §A5) and drives `train()`,
/// `val()` and `test()` through the loops and the hook dispatcher, with MMEngine's order of
/// construction and calls (docs/design.md §B3).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mmhook/config/registry.h"
#include "mmhook/core/metrics.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/hook.h"

namespace spdlog {
class logger;
}

namespace mmhook {

class BaseModel;
class OptimWrapper;
class ParamScheduler;
class MessageHub;
class TrainLoop;
class EvalLoop;
class DataLoader;
class VisBackend;
class LogProcessor;
struct RunnerConfig;

/// Options of `Runner::save_checkpoint` (MMEngine's keyword arguments).
struct SaveCheckpointOptions {
  bool save_optimizer = true;         ///< include "optimizer"
  bool save_param_scheduler = true;   ///< include "param_schedulers"
  bool by_epoch = true;               ///< meta epoch/iter convention (docs/design.md §B8.1)
  std::optional<int64_t> meta_epoch;  ///< overrides meta["epoch"]
  std::optional<int64_t> meta_iter;   ///< overrides meta["iter"]
};

/// The hook registry (built-in hooks and user hooks named in `default_hooks`/`custom_hooks`).
Registry<Hook>& hook_registry();

/// A training run.
class Runner {
 public:
  /// Builds the runner from a JSON config (MMEngine's config as JSON). Errors name the JSON
  /// path. `cfg_path` (optional) names the config file for the experiment name and the dump.
  explicit Runner(const nlohmann::json& cfg, const std::string& cfg_path = "");
  /// Builds from a JSON file.
  static std::unique_ptr<Runner> from_file(const std::string& path);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /// Trains (docs/design.md §B3.2); a failure runs `on_exception`, then `after_run`, then rethrows.
  void train();
  /// Validates once (docs/design.md §B3.3) and returns the metrics.
  Metrics val();
  /// Tests once (docs/design.md §B3.3) and returns the metrics.
  Metrics test();

  /// Registers a hook. Priority: `priority` if given, else the hook's default (MMEngine rule).
  void register_hook(std::shared_ptr<Hook> hook, std::optional<int> priority = std::nullopt);
  /// Registers a hook from a config object (`type`, optional `priority`, options).
  void register_hook(const nlohmann::json& hook_cfg, std::optional<int> priority = std::nullopt);
  /// Hooks in call order.
  const std::vector<std::shared_ptr<Hook>>& hooks() const;
  /// The hook named `name`, or nullptr.
  Hook* find_hook(const std::string& name) const;
  /// MMEngine's `get_hooks_info()` text.
  std::string get_hooks_info() const;
  /// Calls every hook handling `stage` (custom loops use this too).
  void call_hook(Stage stage, const StageArgs& args = {});
  /// The dispatcher (timings, ordering).
  Dispatcher& dispatcher();

  // -- counters
  /// Completed epochs (train loop; 0 when not built).
  int64_t epoch() const;
  /// Completed iterations (train loop; 0 when not built).
  int64_t iter() const;
  /// Configured epochs (0 when no train loop is built).
  int64_t max_epochs() const;
  /// Configured iterations (0 when no train loop is built).
  int64_t max_iters() const;

  // -- components (built lazily, as MMEngine does)
  /// The model.
  BaseModel& model();
  /// The optimizer wrapper (built on first use; requires `optim_wrapper` in the config).
  OptimWrapper& optim_wrapper();
  /// True once the optimizer wrapper is built.
  bool has_optim_wrapper() const;
  /// The parameter schedulers (built with the optimizer wrapper in `train()`).
  std::vector<std::shared_ptr<ParamScheduler>>& param_schedulers();
  /// The train loop (built on first access; Error "train_dataloader should not be None" without
  /// one).
  TrainLoop& train_loop();
  /// The val loop (built on first access).
  EvalLoop& val_loop();
  /// The test loop (built on first access).
  EvalLoop& test_loop();
  /// Whether each loop is built (MMEngine keeps unbuilt loops as dicts).
  bool train_loop_built() const;
  bool val_loop_built() const;   ///< see train_loop_built
  bool test_loop_built() const;  ///< see train_loop_built
  /// Whether the config has a val/test loop at all.
  bool has_val_loop() const;
  bool has_test_loop() const;  ///< see has_val_loop
  /// The message hub of this run.
  MessageHub& message_hub();
  /// The log processor (from `log_processor`).
  LogProcessor& log_processor();
  /// The visualizer backends (from `visualizer.vis_backends`; LocalVisBackend by default).
  std::vector<std::shared_ptr<VisBackend>>& vis_backends();
  /// The "mmengine" logger (console + `log_dir/<timestamp>.log`).
  spdlog::logger& logger();
  /// Flushes the logger and throws Error kIo naming the text log file and the system's reason
  /// when a write to it has failed since the last check (disk full, file system gone). spdlog
  /// itself only prints such failures; LoggerHook calls this after each line it logs.
  void check_log_errors();

  // -- run facts
  /// Absolute work directory.
  const std::string& work_dir() const;
  /// `work_dir/<timestamp>`.
  const std::string& log_dir() const;
  /// `%Y%m%d_%H%M%S` at construction.
  const std::string& timestamp() const;
  /// `<experiment_name or cfg stem>_<timestamp>`, or the timestamp.
  const std::string& experiment_name() const;
  /// The random seed in use.
  int64_t seed() const;
  /// The config as given (what is dumped to work_dir and into checkpoints).
  const nlohmann::json& cfg() const;
  /// The config as read and checked at construction (typed fields; sub-configs with their
  /// JSON paths).
  const RunnerConfig& config() const;
  /// Rank and world size (from the c10d process group; 0 and 1 without one).
  int rank() const;
  int world_size() const;  ///< see rank

  // -- checkpoints (docs/design.md §B8)
  /// Writes `out_dir/filename` atomically (meta, state_dict, message_hub, optimizer,
  /// param_schedulers, rng_state, loop_state, hook_states), after `before_save_checkpoint`.
  void save_checkpoint(const std::string& out_dir, const std::string& filename,
                       const SaveCheckpointOptions& options = {});
  /// The checkpoint `save_checkpoint` would write (every part, `before_save_checkpoint` called),
  /// without writing it: for writers that put the bytes on disk elsewhere (CheckpointHook's
  /// `async_save`).
  Checkpoint make_checkpoint(const SaveCheckpointOptions& options = {});
  /// Loads weights only (after `after_load_checkpoint`); counters untouched.
  void load_checkpoint(const std::string& path, bool strict = false);
  /// Loads weights, counters, optimizer, schedulers, message hub, RNG and hook state.
  void resume(const std::string& path);

  /// Asks the running loop to stop at the next boundary; safe from any thread and from signal
  /// handlers (an atomic store).
  void request_stop() noexcept;
  /// True once `request_stop()` was called.
  bool stop_requested() const noexcept;

  /// The error message of the failure being handled (valid during `on_exception`).
  const std::string& current_error() const;
  /// The metrics of the last val/test loop run (empty before one ran).
  const Metrics& last_metrics() const;
  /// Records an evaluation's metrics as `last_metrics()` (the val and test loops call it at the
  /// end of each run).
  void record_metrics(const Metrics& metrics);

 private:
  void run_guarded(const std::function<void()>& body);
  Metrics evaluate(EvalLoop& loop);
  void finish_run();
  void scale_lr();
  void build_param_schedulers();
  void load_or_resume();
  /// What load_or_resume does on one rank; returns the checkpoint resumed from, "" if none.
  std::string resume_or_load();
  Checkpoint read_and_announce(const std::string& path);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace mmhook
