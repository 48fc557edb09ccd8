#pragma once
/// @file
/// CheckpointHook (VERY_LOW): periodic, last and best checkpoints with retention
/// (docs/design.md §B4.6). The decisions (save now? which files to delete? is a score better?)
/// are pure functions below, tested on their own.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// CheckpointHook options (MMEngine's names and defaults).
struct CheckpointHookOptions {
  int64_t interval = -1;               ///< save every n epochs/iters (-1: only the last)
  bool by_epoch = true;                ///< count epochs (true) or iterations
  bool save_optimizer = true;          ///< include the optimizer state
  bool save_param_scheduler = true;    ///< include the scheduler states
  std::string out_dir;                 ///< default work_dir; else out_dir/<basename(work_dir)>
  int64_t max_keep_ckpts = -1;         ///< keep only the newest n periodic checkpoints
  bool save_last = true;               ///< always save after the last epoch/iteration
  std::vector<std::string> save_best;  ///< metric keys ("auto" alone: the first metric)
  std::vector<std::string> rule;       ///< "greater"/"less" per key (inferred when empty)
  std::vector<std::string> greater_keys = {"acc",   "top",  "AR@",  "auc", "precision", "mAP",
                                           "mDice", "mIoU", "mAcc", "aAcc"};  ///< rule inference
  std::vector<std::string> less_keys = {"loss"};                              ///< rule inference
  std::string filename_tmpl;                ///< default "epoch_{}.pth" / "iter_{}.pth"
  int64_t save_begin = 0;                   ///< first epoch/iter that may save
  std::vector<std::string> published_keys;  ///< top-level keys kept by after_train's publishing
  /// mmhook's addition: the periodic and last checkpoints are serialised on the training thread
  /// and written (file, fsync, `last_checkpoint`, retention) by a background thread, so training
  /// does not wait for the disk. One write at a time: the next save waits for the previous one.
  /// A failed write stops the run at the next iteration, save or the end of training.
  bool async_save = false;
};

/// Runs file writes on one background thread, one job at a time (CheckpointHook's
/// `async_save`). The first error a job throws is kept and rethrown by `wait`/`check`.
class BackgroundWriter {
 public:
  BackgroundWriter();
  /// Waits for the running job; errors are dropped here (call `wait` to see them).
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;
  /// Waits for the previous job (rethrowing its error), then starts `job`.
  void submit(std::function<void()> job);
  /// Waits until no job runs; rethrows the error of a failed job (once).
  void wait();
  /// Rethrows the error of a finished, failed job without waiting (one atomic load otherwise).
  void check();
  /// Whether a job is running.
  bool busy() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Retention decision: the ids to delete after adding `step` to `kept` (oldest first), with at
/// most `max_keep` ids kept (`max_keep <= 0`: keep all). Updates `kept`.
std::vector<int64_t> retention_after_save(std::deque<int64_t>& kept, int64_t step,
                                          int64_t max_keep);
/// MMEngine's rule inference for a metric key: "greater" or "less"; Error if undecidable.
std::string infer_rule(const std::string& key, const std::vector<std::string>& greater_keys,
                       const std::vector<std::string>& less_keys);
/// Whether `value` beats `best` under `rule` ("greater": >, "less": <).
bool is_better(const std::string& rule, double value, double best);
/// SHA-256 of `size` bytes at `data`, as 64 lowercase hex digits (FIPS 180-4).
std::string sha256_hex(const void* data, size_t size);

/// Saves checkpoints as MMEngine does; writes `work_dir/last_checkpoint` after each save.
class CheckpointHook : public HookImpl<CheckpointHook> {
 public:
  /// Validates the options (Errors name option and value).
  explicit CheckpointHook(CheckpointHookOptions options = {});
  std::string type_name() const override { return "CheckpointHook"; }
  int default_priority() const override { return 90; }
  void before_train(Runner& runner) override;
  void after_train_epoch(Runner& runner) override;
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  /// With `published_keys`: publishes the last checkpoint (if save_last) and every best one as
  /// `<path without .pth>-<sha256[:8]>.pth` holding only the published top-level keys.
  void after_train(Runner& runner) override;
  /// With `async_save`: the pending write is finished (its error logged) when a run fails.
  void on_exception(Runner& runner, const std::string& message) override;
  /// With `async_save`: waits for the pending write; its error fails the run.
  void after_run(Runner& runner) override;
  /// The rule per `save_best` key ("" for "auto", decided from the first metric).
  const std::vector<std::string>& rules() const { return rules_; }
  /// The options in use.
  const CheckpointHookOptions& options() const { return options_; }
  /// The resolved output directory (after before_train).
  const std::string& out_dir() const { return out_dir_; }

 private:
  void publish(Runner& runner, const std::string& path);
  void save_with_step(Runner& runner, int64_t step, int64_t meta_epoch, int64_t meta_iter);
  std::string format_name(int64_t step) const;
  CheckpointHookOptions options_;
  std::string out_dir_;
  std::deque<int64_t> keep_ids_;
  std::vector<std::string> rules_;
  std::unique_ptr<BackgroundWriter> writer_;  // with async_save
};

}  // namespace mmhook
