#pragma once
/// @file
/// MMEngine's loops (`mmengine/runner/loops.py`): EpochBasedTrainLoop, IterBasedTrainLoop,
/// ValLoop, TestLoop. Loops only call the dispatcher; counters follow docs/design.md §B3.5–B3.7.

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "mmhook/config/registry.h"
#include "mmhook/core/metrics.h"

namespace mmhook {

class Runner;
class DataLoader;
class Evaluator;

/// Base of every loop: owns its data loader.
class BaseLoop {
 public:
  /// A loop of `runner` over `dataloader` (shared with the runner).
  BaseLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader);
  virtual ~BaseLoop();
  /// The loop's data loader.
  DataLoader& dataloader() { return *dataloader_; }
  /// The loop's data loader (shared).
  const std::shared_ptr<DataLoader>& dataloader_ptr() const { return dataloader_; }

 protected:
  /// The runner that owns the loop (hooks are called through it).
  Runner& runner_;
  /// The data loader the loop iterates.
  std::shared_ptr<DataLoader> dataloader_;
};

/// Common state of the train loops.
class TrainLoop : public BaseLoop {
 public:
  /// Checks `val_interval > 0` and that `dynamic_intervals` (milestone, interval) pairs have
  /// increasing milestones and positive intervals (Error otherwise).
  TrainLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t val_begin,
            int64_t val_interval,
            const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals);
  /// Runs training to the end (or until `stop_training`).
  virtual void run() = 0;
  /// True for EpochBasedTrainLoop.
  virtual bool by_epoch() const = 0;
  /// Completed epochs (`runner.epoch`).
  int64_t epoch() const { return epoch_; }
  /// Completed iterations (`runner.iter`).
  int64_t iter() const { return iter_; }
  /// Configured epochs (1 for iteration-based loops).
  int64_t max_epochs() const { return max_epochs_; }
  /// Total iterations.
  int64_t max_iters() const { return max_iters_; }
  /// First epoch/iteration that may validate.
  int64_t val_begin() const { return val_begin_; }
  /// Current validation interval (changes with dynamic intervals).
  int64_t val_interval() const { return val_interval_; }
  /// Set by hooks (EarlyStoppingHook); checked between epochs (epoch loop) or iterations
  /// (iteration loop). `Runner::request_stop()` is honoured after the current iteration.
  /// In a data-parallel run the ranks agree on both (see `interrupted()`).
  bool stop_training = false;
  /// True when the last `run()` ended early because a stop was requested
  /// (`Runner::request_stop()`, e.g. from a signal handler), not at its end or by
  /// `stop_training`. In a data-parallel run every rank votes on stopping during each iteration
  /// (an all-reduce issued before `train_step`, waited for after after_train_iter), so all ranks
  /// stop after the same iteration and agree on this flag, even when only one of them was asked:
  /// a request that arrives after an iteration's vote takes effect one iteration later.
  bool interrupted() const { return interrupted_; }
  /// Sets the counters (resume).
  void set_counters(int64_t epoch, int64_t iter) {
    epoch_ = epoch;
    iter_ = iter;
  }

 protected:
  /// Sets `val_interval_` from the dynamic intervals for `progress` (epochs or iterations done).
  void decide_val_interval(int64_t progress);
  /// What may end training early: a stop request and `stop_training`.
  struct StopVote {
    bool requested = false;  ///< `Runner::request_stop()` was called (on some rank)
    bool training = false;   ///< `stop_training` was set (on some rank)
    /// Either one.
    bool any() const { return requested || training; }
  };
  /// `stop_training` is set or the runner was asked to stop.
  bool should_stop() const;
  /// This process's stop state; in a data-parallel run, every rank's, agreed by a blocking
  /// all-reduce (every rank must call it at the same point), and applied on each rank (a
  /// request anywhere becomes `Runner::request_stop()` here, likewise `stop_training`).
  StopVote agree_stop();
  /// One training iteration: before_train_iter, `train_step`, after_train_iter, `++iter_`;
  /// sets `last_vote_`.
  void run_iter(int64_t batch_idx, const class TensorDict& batch);
  /// The stop state after the last run_iter: this process's, or in a data-parallel run the vote
  /// all ranks took during that iteration (identical on every rank).
  StopVote last_vote_;
  /// See interrupted().
  bool interrupted_ = false;

  /// Completed epochs.
  int64_t epoch_ = 0;
  /// Completed iterations.
  int64_t iter_ = 0;
  /// Configured epochs (1 for iteration-based loops).
  int64_t max_epochs_ = 0;
  /// Total iterations.
  int64_t max_iters_ = 0;
  /// First epoch/iteration that may validate.
  int64_t val_begin_ = 1;
  /// Current validation interval.
  int64_t val_interval_ = 1;
  /// Dynamic-interval milestones, starting with 0.
  std::vector<int64_t> milestones_;
  /// The validation interval from each milestone on.
  std::vector<int64_t> intervals_;
};

/// MMEngine's EpochBasedTrainLoop(dataloader, max_epochs, val_begin=1, val_interval=1,
/// dynamic_intervals=None).
class EpochBasedTrainLoop : public TrainLoop {
 public:
  /// Trains `max_epochs` epochs, validating every `val_interval` epochs from `val_begin`.
  EpochBasedTrainLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t max_epochs,
                      int64_t val_begin = 1, int64_t val_interval = 1,
                      const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals = {});
  /// Trains to `max_epochs`. Counters inside an epoch (a resumed run that was stopped
  /// mid-epoch) continue that epoch at its next batch: the sampler skips the batches already
  /// trained, hooks see `batch_idx` continue from there, and the run ends as an uninterrupted
  /// one would. A stop request ends the epoch after the current iteration, without its
  /// after_train_epoch or validation (both run when the resumed run finishes the epoch).
  void run() override;
  bool by_epoch() const override { return true; }

 private:
  /// Batches of the current epoch already trained: `iter - epoch * batches per epoch` (every
  /// finished epoch ran all its batches); 0, with a warning, when that is out of range.
  int64_t batches_done_in_epoch();
  /// One epoch from batch `skip_batches`; false when a stop request ended it early.
  bool run_epoch(int64_t skip_batches);
};

/// MMEngine's IterBasedTrainLoop(dataloader, max_iters, val_begin=1, val_interval=1000,
/// dynamic_intervals=None). A resumed run skips the seen batches at the sampler level.
class IterBasedTrainLoop : public TrainLoop {
 public:
  /// Trains `max_iters` iterations, validating every `val_interval` iterations from `val_begin`.
  IterBasedTrainLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t max_iters,
                     int64_t val_begin = 1, int64_t val_interval = 1000,
                     const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals = {});
  void run() override;
  bool by_epoch() const override { return false; }
};

/// MMEngine's ValLoop / TestLoop (one class, two modes).
class EvalLoop : public BaseLoop {
 public:
  /// A ValLoop (`test` false) or TestLoop (`test` true) over `dataloader`, scored by `evaluator`;
  /// `fp16` runs the model under autocast.
  EvalLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader,
           std::shared_ptr<Evaluator> evaluator, bool test, bool fp16 = false);
  ~EvalLoop() override;
  /// Runs one pass and returns the metrics. A stop request (`Runner::request_stop`) ends the
  /// pass after the current batch: then no metrics are computed or recorded (a partial pass
  /// would pass for a full one), the evaluator's accumulated results are dropped,
  /// after_*_epoch and after_* still run (hooks undo what they did at before_*_epoch) with
  /// empty metrics, `interrupted()` is true, and the result is empty.
  Metrics run();
  /// True while (and after) a pass that a stop request ended early; false once a new pass
  /// starts. Hooks that consume metrics at after_val_epoch / after_test_epoch skip such a pass.
  bool interrupted() const { return interrupted_; }
  /// The evaluator.
  Evaluator& evaluator() { return *evaluator_; }
  /// Whether predictions run under autocast.
  bool fp16() const { return fp16_; }

 private:
  std::shared_ptr<Evaluator> evaluator_;
  bool test_;
  bool fp16_;
  bool interrupted_ = false;
};

/// Train-loop registry: "EpochBasedTrainLoop", "IterBasedTrainLoop".
Registry<TrainLoop, Runner&, std::shared_ptr<DataLoader>>& train_loop_registry();
/// Eval-loop registry: "ValLoop", "TestLoop" (the bool is true for test).
Registry<EvalLoop, Runner&, std::shared_ptr<DataLoader>, std::shared_ptr<Evaluator>, bool>&
eval_loop_registry();

}  // namespace mmhook
