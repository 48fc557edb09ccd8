#pragma once
/// @file
/// PolyLR family (docs/design.md §B6.2): final value reached at s = end-begin-1.

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// s==0: v; else (v-eta_min)*(1-1/(T-s+1))^power + eta_min.
class PolyParamScheduler : public ParamScheduler {
 public:
  /// eta_min default 0, power default 1.
  PolyParamScheduler(OptimWrapper& optimizer, std::string param_name, double eta_min = 0,
                     double power = 1.0, SchedulerArgs args = {});

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  double eta_min_;
  double power_;
  int64_t total_iters_;
};

/// PolyLR(optimizer, eta_min, power, args).
MMHOOK_SCHEDULER_VARIANT(PolyLR, PolyParamScheduler, "lr");
/// PolyMomentum(optimizer, eta_min, power, args).
MMHOOK_SCHEDULER_VARIANT(PolyMomentum, PolyParamScheduler, "momentum");

}  // namespace mmhook
