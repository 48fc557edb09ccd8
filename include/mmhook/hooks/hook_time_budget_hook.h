#pragma once
/// @file
/// HookTimeBudgetHook (LOWEST): a per-hook time budget. The dispatcher already times every
/// (hook, stage) call (`hook_timing.json`); this hook reads those timings at the end of every
/// `interval` training iterations, of every train/val/test epoch and of the run, and warns once
/// per (hook, stage) whose longest call exceeded its budget, naming hook, stage, time and budget.
/// It only reads timings, so it adds nothing to the dispatch path. A call is judged when it has
/// returned: a hook that never returns is not reported (stop such a run from outside).
///
/// Config: `{"type": "HookTimeBudgetHook", "budget_ms": 1000, "budgets_ms": {"LoggerHook": 50},
/// "interval": 50}` (`budgets_ms` overrides the budget per hook name).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Options of HookTimeBudgetHook.
struct HookTimeBudgetOptions {
  double budget_ms = 1000.0;                 ///< budget of one call of any hook at any stage
  std::map<std::string, double> budgets_ms;  ///< per hook name, overriding `budget_ms`
  int64_t interval = 50;                     ///< check every n training iterations
};

/// Warns when a hook's call takes longer than its budget.
class HookTimeBudgetHook : public HookImpl<HookTimeBudgetHook> {
 public:
  /// Budgets must be > 0 and `interval` > 0 (Error kInvalidArgument naming the option).
  explicit HookTimeBudgetHook(HookTimeBudgetOptions options = {});
  std::string type_name() const override { return "HookTimeBudgetHook"; }
  /// LOWEST (100): runs after the other hooks of a stage.
  int default_priority() const override;
  /// Makes the dispatcher time every call (a budget cannot be judged from sampled timings).
  void before_run(Runner& runner) override;
  /// Checks every `interval` iterations.
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  /// Checks.
  void after_train_epoch(Runner& runner) override;
  /// Checks.
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  /// Checks.
  void after_test_epoch(Runner& runner, const Metrics& metrics) override;
  /// Checks.
  void after_run(Runner& runner) override;

  /// The (hook, stage) pairs reported so far, each once.
  const std::set<std::pair<std::string, std::string>>& reported() const { return reported_; }
  /// Budget of `hook` in ms.
  double budget_of(const std::string& hook) const;

 private:
  void check(Runner& runner);

  HookTimeBudgetOptions options_;
  std::set<std::pair<std::string, std::string>> reported_;
};

}  // namespace mmhook
