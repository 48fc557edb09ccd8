#pragma once
/// @file
/// ExponentialLR family (docs/design.md §B6.2).

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// s==0: v; else v*gamma.
class ExponentialParamScheduler : public ParamScheduler {
 public:
  /// gamma (required).
  ExponentialParamScheduler(OptimWrapper& optimizer, std::string param_name, double gamma,
                            SchedulerArgs args = {});

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  double gamma_;
};

/// ExponentialLR(optimizer, gamma, args).
MMHOOK_SCHEDULER_VARIANT(ExponentialLR, ExponentialParamScheduler, "lr");
/// ExponentialMomentum(optimizer, gamma, args).
MMHOOK_SCHEDULER_VARIANT(ExponentialMomentum, ExponentialParamScheduler, "momentum");

}  // namespace mmhook
