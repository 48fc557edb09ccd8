#pragma once
/// @file
/// ConstantLR / LinearLR families (docs/design.md §B6.2): final value reached at s = end-begin-1.

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// s==0: v*factor; s==T: v/factor; else v (T = end-begin-1).
class ConstantParamScheduler : public ParamScheduler {
 public:
  /// factor in [0, 1], default 1/3.
  ConstantParamScheduler(OptimWrapper& optimizer, std::string param_name, double factor = 1.0 / 3,
                         SchedulerArgs args = {});

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  double factor_;
  int64_t total_iters_;
};

/// s==0: v*sf; else v*(1 + (ef-sf)/(T*sf + (s-1)*(ef-sf))).
class LinearParamScheduler : public ParamScheduler {
 public:
  /// start_factor in (0, 1] default 1/3, end_factor in [0, 1] default 1.
  LinearParamScheduler(OptimWrapper& optimizer, std::string param_name,
                       double start_factor = 1.0 / 3, double end_factor = 1.0,
                       SchedulerArgs args = {});

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

/// ConstantLR(optimizer, factor, args).
MMHOOK_SCHEDULER_VARIANT(ConstantLR, ConstantParamScheduler, "lr");
/// ConstantMomentum(optimizer, factor, args).
MMHOOK_SCHEDULER_VARIANT(ConstantMomentum, ConstantParamScheduler, "momentum");
/// LinearLR(optimizer, start_factor, end_factor, args).
MMHOOK_SCHEDULER_VARIANT(LinearLR, LinearParamScheduler, "lr");
/// LinearMomentum(optimizer, start_factor, end_factor, args).
MMHOOK_SCHEDULER_VARIANT(LinearMomentum, LinearParamScheduler, "momentum");

}  // namespace mmhook
