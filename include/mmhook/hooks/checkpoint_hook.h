#pragma once
/// @file
/// CheckpointHook (VERY_LOW): periodic, last and best checkpoints with retention
/// (docs/design.md §B4.6). The decisions (which files to delete? is a score better?) are pure
/// functions in checkpoint_policy.h, tested on their own; `async_save` writes through a
/// BackgroundWriter (background_writer.h).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mmhook/core/sha256.h"
#include "mmhook/engine/hook.h"
#include "mmhook/hooks/background_writer.h"
#include "mmhook/hooks/checkpoint_policy.h"

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

/// Saves checkpoints as MMEngine does; writes `work_dir/last_checkpoint` after each save.
class CheckpointHook : public HookImpl<CheckpointHook> {
 public:
  /// Validates the options (Errors name option and value).
  explicit CheckpointHook(CheckpointHookOptions options = {});
  std::string type_name() const override { return "CheckpointHook"; }
  int default_priority() const override { return get_priority(Priority::kVeryLow); }
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
