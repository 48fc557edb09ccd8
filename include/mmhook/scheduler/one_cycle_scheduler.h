#pragma once
/// @file
/// OneCycleLR family (docs/design.md §B6.2 "OneCycle"): MMEngine's OneCycleParamScheduler, the
/// 1cycle policy. Not chainable: every value is computed from the group's `initial_`, `max_` and
/// `min_<param>` entries, which the constructor assigns (plain assignment, not setdefault).

#include <optional>
#include <string>
#include <vector>

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// Anneals initial -> max -> min (or initial -> max -> initial -> min with three_phase).
class OneCycleParamScheduler : public ParamScheduler {
 public:
  /// eta_max: peak value (scalar or per group); total_steps: positive, nullopt means end-begin;
  /// pct_start in [0, 1]; anneal_strategy "cos" or "linear"; initial = eta_max/div_factor,
  /// min = initial/final_div_factor.
  OneCycleParamScheduler(OptimWrapper& optimizer, const std::string& param_name,
                         const PerGroupValue& eta_max = 0.0,
                         std::optional<int64_t> total_steps = std::nullopt, double pct_start = 0.3,
                         std::string anneal_strategy = "cos", double div_factor = 25.0,
                         double final_div_factor = 1e4, bool three_phase = false,
                         SchedulerArgs args = {});
  /// Steps in the cycle.
  int64_t total_steps() const { return total_steps_; }

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  struct Phase {
    double end_step;
    std::string start_key;
    std::string end_key;
  };
  // Validates the options and writes initial_/max_/min_<param> into every group (fresh runs).
  static OptimWrapper& prepare(OptimWrapper& optimizer, const std::string& param_name,
                               const PerGroupValue& eta_max, std::optional<int64_t> total_steps,
                               const SchedulerArgs& args, double pct_start,
                               const std::string& anneal_strategy, double div_factor,
                               double final_div_factor);
  void build_phases();

  std::vector<double> eta_max_;
  int64_t total_steps_;
  double pct_start_;
  std::string anneal_strategy_;
  double div_factor_;
  double final_div_factor_;
  bool three_phase_;
  std::vector<Phase> phases_;
};

/// OneCycleLR(optimizer, eta_max, total_steps, pct_start, anneal_strategy, div_factor,
/// final_div_factor, three_phase, args).
MMHOOK_SCHEDULER_VARIANT(OneCycleLR, OneCycleParamScheduler, "lr");
/// OneCycleMomentum: the same policy on `momentum` (an mmhook addition; MMEngine has LR only).
MMHOOK_SCHEDULER_VARIANT(OneCycleMomentum, OneCycleParamScheduler, "momentum");

}  // namespace mmhook
