#pragma once
/// @file
/// EMAHook (NORMAL): keeps an averaged copy of the model's weights, evaluates on it and stores
/// it in checkpoints (MMEngine's `mmengine/hooks/ema_hook.py`, docs/design.md §B4.7).
///
/// - `before_run` builds the averaged model (`ema_type`) from `runner.model()`.
/// - `after_train_iter` updates it once started (`epoch + 1 >= begin_epoch` when `begin_epoch > 0`,
///   else `iter + 1 >= begin_iter`); before that it copies the model's state dict.
/// - Val and test epochs run on the averaged weights: they are swapped into the model in
///   `before_{val,test}_epoch` and swapped back in `after_{val,test}_epoch`.
/// - `before_save_checkpoint` stores `ema_state_dict` (`steps`, `module.<name>`) and swaps it with
///   `state_dict`, so `state_dict` holds the averaged weights and `ema_state_dict` the training
///   weights; `after_load_checkpoint` undoes that when resuming, else loads `state_dict` into
///   the average.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mmhook/engine/hook.h"
#include "mmhook/model/averaged_model.h"

namespace mmhook {

/// EMAHook options (MMEngine's names and defaults; the averaged model's kwargs included).
struct EMAHookOptions {
  std::string ema_type = "ExponentialMovingAverage";  ///< averaged model class
  bool strict_load = false;           ///< strict key matching when loading `ema_state_dict`
  int64_t begin_iter = 0;             ///< first iteration (1-based count) that averages
  int64_t begin_epoch = 0;            ///< first epoch (1-based count) that averages; > 0 wins
  std::optional<double> momentum;     ///< EMA momentum (weight of the new value), default 0.0002
  std::optional<double> gamma;        ///< MomentumAnnealingEMA only, default 100
  int64_t interval = 1;               ///< average every n-th update
  bool update_buffers = false;        ///< average (and swap) the buffers too
  std::optional<std::string> device;  ///< device of the average ("cuda:0"); default: the model's
};

/// MMEngine's EMAHook.
class EMAHook : public HookImpl<EMAHook> {
 public:
  /// Validates the options: Error kInvalidArgument naming `EMAHook.<option>` and the value
  /// (negative begin, both begins set, unknown ema_type, momentum outside (0,1), interval < 1,
  /// gamma <= 0, an option the ema_type does not take, a malformed device).
  explicit EMAHook(EMAHookOptions options = {});

  int default_priority() const override { return get_priority(Priority::kNormal); }

  void before_run(Runner& runner) override;
  void before_train(Runner& runner) override;
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void before_val_epoch(Runner& runner) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  void before_test_epoch(Runner& runner) override;
  void after_test_epoch(Runner& runner, const Metrics& metrics) override;
  void before_save_checkpoint(Runner& runner, Checkpoint& checkpoint) override;
  void after_load_checkpoint(Runner& runner, Checkpoint& checkpoint) override;

  /// The options in use.
  const EMAHookOptions& options() const { return options_; }
  /// MMEngine's `enabled_by_epoch` (`begin_epoch > 0`).
  bool enabled_by_epoch() const { return options_.begin_epoch > 0; }
  /// The averaged model (null before `before_run`).
  AveragedModel* ema_model() const { return ema_.get(); }

 private:
  AveragedModel& ema(const char* stage) const;
  void swap(Runner& runner, const char* stage);

  EMAHookOptions options_;
  std::unique_ptr<AveragedModel> ema_;
};

}  // namespace mmhook
