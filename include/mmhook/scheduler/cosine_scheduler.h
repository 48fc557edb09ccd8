#pragma once
/// @file
/// CosineAnnealingLR / CosineRestartLR families (docs/design.md §B6.2).

#include <optional>

#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

/// Recursive cosine annealing from v to eta over T_max (default end-begin).
class CosineAnnealingParamScheduler : public ParamScheduler {
 public:
  /// T_max (nullopt: end-begin); at most one of eta_min / eta_min_ratio (neither: eta_min 0).
  CosineAnnealingParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                std::optional<int64_t> T_max = std::nullopt,
                                std::optional<double> eta_min = std::nullopt,
                                std::optional<double> eta_min_ratio = std::nullopt,
                                SchedulerArgs args = {});
  /// Period.
  int64_t T_max() const { return T_max_; }

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  int64_t T_max_;
  std::optional<double> eta_min_;
  std::optional<double> eta_min_ratio_;
};

/// Cosine annealing with restarts over `periods`, restarting at base*restart_weights[i].
class CosineRestartParamScheduler : public ParamScheduler {
 public:
  /// periods and restart_weights of equal length; exactly one of eta_min / eta_min_ratio.
  CosineRestartParamScheduler(OptimWrapper& optimizer, std::string param_name,
                              std::vector<int64_t> periods,
                              std::vector<double> restart_weights = {1.0},
                              std::optional<double> eta_min = std::nullopt,
                              std::optional<double> eta_min_ratio = std::nullopt,
                              SchedulerArgs args = {});

 protected:
  std::vector<double> get_value() override;
  void save_extra(c10::impl::GenericDict& d) const override;
  void load_extra(const c10::impl::GenericDict& d) override;

 private:
  std::vector<int64_t> periods_;
  std::vector<double> restart_weights_;
  std::vector<int64_t> cumulative_periods_;
  std::optional<double> eta_min_;
  std::optional<double> eta_min_ratio_;
};

/// CosineAnnealingLR(optimizer, T_max, eta_min, eta_min_ratio, args).
MMHOOK_SCHEDULER_VARIANT(CosineAnnealingLR, CosineAnnealingParamScheduler, "lr");
/// CosineAnnealingMomentum(optimizer, T_max, eta_min, eta_min_ratio, args).
MMHOOK_SCHEDULER_VARIANT(CosineAnnealingMomentum, CosineAnnealingParamScheduler, "momentum");
/// CosineRestartLR(optimizer, periods, restart_weights, eta_min, eta_min_ratio, args).
MMHOOK_SCHEDULER_VARIANT(CosineRestartLR, CosineRestartParamScheduler, "lr");
/// CosineRestartMomentum(optimizer, periods, restart_weights, eta_min, eta_min_ratio, args).
MMHOOK_SCHEDULER_VARIANT(CosineRestartMomentum, CosineRestartParamScheduler, "momentum");

}  // namespace mmhook
