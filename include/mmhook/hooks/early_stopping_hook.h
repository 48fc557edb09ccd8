#pragma once
/// @file
/// EarlyStoppingHook (NORMAL): stops training when a validation metric stops improving
/// (docs/design.md §B4.8). Unlike MMEngine, its state (best score, wait count) is saved in
/// checkpoints under `hook_states/<hook name>/` and restored on load: a resume keeps its patience.

#include <cstdint>
#include <optional>
#include <string>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// EarlyStoppingHook options (MMEngine's names and defaults).
struct EarlyStoppingHookOptions {
  std::string monitor;                       ///< metric key to watch (required)
  std::string rule;                          ///< "greater"/"less"; "" infers it from `monitor`
  double min_delta = 0.1;                    ///< smallest change that counts as improvement
  bool strict = false;                       ///< a missing `monitor` key is an Error
  bool check_finite = true;                  ///< stop on a NaN/inf score
  int64_t patience = 5;                      ///< evaluations without improvement before stopping
  std::optional<double> stopping_threshold;  ///< stop once the score beats this value
};

/// Sets `runner.train_loop().stop_training` when the monitored metric stops improving.
class EarlyStoppingHook : public HookImpl<EarlyStoppingHook> {
 public:
  /// Validates `monitor` and `rule` and infers the rule (Error kInvalidArgument otherwise).
  explicit EarlyStoppingHook(EarlyStoppingHookOptions options);
  std::string type_name() const override { return "EarlyStoppingHook"; }
  /// Builds the train loop (as MMEngine's `runner.train_loop` does); Error without one.
  void before_run(Runner& runner) override;
  /// Compares `metrics[monitor]` with the best score; may request a stop.
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  /// Stores monitor, rule, best score and wait count in `hook_states/<name>`.
  void before_save_checkpoint(Runner& runner, Checkpoint& checkpoint) override;
  /// Restores best score and wait count when the stored monitor and rule match this hook's.
  void after_load_checkpoint(Runner& runner, Checkpoint& checkpoint) override;

  /// "greater" or "less" (given or inferred).
  const std::string& rule() const { return rule_; }
  /// The best score so far (-inf/+inf before the first evaluation).
  double best_score() const { return best_score_; }
  /// Evaluations since the last improvement.
  int64_t wait_count() const { return wait_count_; }
  /// The signed min_delta in use (negated for "less").
  double min_delta() const { return min_delta_; }
  /// The options in use.
  const EarlyStoppingHookOptions& options() const { return options_; }

 private:
  bool better(double a, double b) const { return rule_ == "greater" ? a > b : a < b; }
  EarlyStoppingHookOptions options_;
  std::string rule_;
  double min_delta_;
  double best_score_;
  int64_t wait_count_ = 0;
};

}  // namespace mmhook
