#pragma once
/// @file
/// ReduceOnPlateauLR family (docs/design.md §B6.4): reduces the parameter when the monitored
/// validation metric stops improving. It takes no implicit first step; `step()` without metrics
/// (from after_train_epoch) only counts epochs, `step(metrics)` (from after_val_epoch) acts.

#include <string>
#include <vector>

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// MMEngine's ReduceOnPlateauParamScheduler.
class ReduceOnPlateauParamScheduler : public ParamScheduler {
 public:
  /// monitor: metric key as given ("loss", "accuracy/top1"); rule "less"|"greater"; factor < 1;
  /// patience: bad epochs tolerated; threshold >= 0 with threshold_rule "rel"|"abs"; cooldown:
  /// epochs ignored after a reduction; min_value: lower bound (scalar or one per real group);
  /// eps: smallest applied change. by_epoch must be true.
  ReduceOnPlateauParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                std::string monitor = "loss", std::string rule = "less",
                                double factor = 0.1, int64_t patience = 10, double threshold = 1e-4,
                                std::string threshold_rule = "rel", int64_t cooldown = 0,
                                const PerGroupValue& min_value = 0.0, double eps = 1e-8,
                                SchedulerArgs args = {});

  /// Without metrics: only counts the step (the after_train_epoch call).
  void step() override;
  /// Judges `metrics[monitor]` and reduces the values after `patience` bad epochs; a missing
  /// monitor key inside [begin, end) is a kNotFound Error listing the keys.
  void step(const OrderedMap<double>& metrics) override;
  /// True: the hook passes validation metrics.
  bool need_val_args() const override { return true; }
  /// Monitored metric key.
  const std::string& monitor() const { return monitor_; }
  /// Best metric so far (±1e9 before the first judgement).
  double best() const { return best_; }
  /// Consecutive epochs without improvement.
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  /// Lower bounds, one per group (base group included).
  const std::vector<double>& min_values() const { return min_values_; }

 protected:
  /// Every group's value times factor, clamped at its min_value.
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  bool is_better(double a, double best) const;
  void validate() const;

  std::string monitor_;
  std::string rule_;
  double factor_;
  int64_t patience_;
  double threshold_;
  std::string threshold_rule_;
  int64_t cooldown_;
  int64_t cooldown_counter_ = 0;
  double rule_worse_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  double eps_;
  std::vector<double> min_values_;
};

/// ReduceOnPlateauLR(optimizer, monitor, rule, factor, patience, threshold, threshold_rule,
/// cooldown, min_value, eps, args).
MMHOOK_SCHEDULER_VARIANT(ReduceOnPlateauLR, ReduceOnPlateauParamScheduler, "lr");
/// ReduceOnPlateauMomentum(optimizer, monitor, ...): the same on `momentum`.
MMHOOK_SCHEDULER_VARIANT(ReduceOnPlateauMomentum, ReduceOnPlateauParamScheduler, "momentum");

}  // namespace mmhook
