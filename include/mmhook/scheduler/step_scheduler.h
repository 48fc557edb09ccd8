#pragma once
/// @file
/// StepLR / MultiStepLR families (docs/design.md §B6.2).

#include <map>

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// `v*gamma` when `s > 0 && s % step_size == 0`, else v.
class StepParamScheduler : public ParamScheduler {
 public:
  /// step_size (> 0) in steps of the scheduler's unit; gamma default 0.1.
  StepParamScheduler(OptimWrapper& optimizer, std::string param_name, int64_t step_size,
                     double gamma = 0.1, SchedulerArgs args = {});
  /// Step size.
  int64_t step_size() const { return step_size_; }

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// `v*gamma^count(s)` when s is a milestone, else v.
class MultiStepParamScheduler : public ParamScheduler {
 public:
  /// milestones (a multiset, like Python's Counter); gamma default 0.1.
  MultiStepParamScheduler(OptimWrapper& optimizer, std::string param_name,
                          const std::vector<int64_t>& milestones, double gamma = 0.1,
                          SchedulerArgs args = {});
  /// Milestone -> count.
  const std::map<int64_t, int64_t>& milestones() const { return milestones_; }

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  std::map<int64_t, int64_t> milestones_;
  double gamma_;
};

/// StepLR(optimizer, step_size, gamma, args).
MMHOOK_SCHEDULER_VARIANT(StepLR, StepParamScheduler, "lr");
/// StepMomentum(optimizer, step_size, gamma, args).
MMHOOK_SCHEDULER_VARIANT(StepMomentum, StepParamScheduler, "momentum");
/// MultiStepLR(optimizer, milestones, gamma, args).
MMHOOK_SCHEDULER_VARIANT(MultiStepLR, MultiStepParamScheduler, "lr");
/// MultiStepMomentum(optimizer, milestones, gamma, args).
MMHOOK_SCHEDULER_VARIANT(MultiStepMomentum, MultiStepParamScheduler, "momentum");

}  // namespace mmhook
