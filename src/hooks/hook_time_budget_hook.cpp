#include "mmhook/hooks/hook_time_budget_hook.h"

#include <cstdio>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/config/config_node.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/runner.h"

namespace mmhook {

HookTimeBudgetHook::HookTimeBudgetHook(HookTimeBudgetOptions options)
    : options_(std::move(options)) {
  MMHOOK_CHECK(options_.budget_ms > 0, "HookTimeBudgetHook.budget_ms must be > 0, got ",
               options_.budget_ms);
  MMHOOK_CHECK(options_.interval > 0, "HookTimeBudgetHook.interval must be > 0, got ",
               options_.interval);
  for (const auto& [hook, ms] : options_.budgets_ms)
    MMHOOK_CHECK(ms > 0, "HookTimeBudgetHook.budgets_ms.", hook, " must be > 0, got ", ms);
}

int HookTimeBudgetHook::default_priority() const { return get_priority(Priority::kLowest); }

double HookTimeBudgetHook::budget_of(const std::string& hook) const {
  auto it = options_.budgets_ms.find(hook);
  return it == options_.budgets_ms.end() ? options_.budget_ms : it->second;
}

void HookTimeBudgetHook::check(Runner& runner) {
  for (const HookTiming& t : runner.dispatcher().timings()) {
    const double budget = budget_of(t.hook);
    if (t.max_ms <= budget || !reported_.emplace(t.hook, t.stage).second) continue;
    char text[64];
    std::snprintf(text, sizeof text, "%.1f ms (budget %.1f ms)", t.max_ms, budget);
    runner.logger().warn("hook '" + t.hook + "' exceeded its time budget at " + t.stage +
                         ": its longest call took " + text);
  }
}

void HookTimeBudgetHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                          const TensorDict&) {
  if (every_n_train_iters(runner, options_.interval)) check(runner);
}
void HookTimeBudgetHook::before_run(Runner& runner) {
  runner.dispatcher().set_timing(HookTimingMode::kAll);
}

void HookTimeBudgetHook::after_train_epoch(Runner& runner) { check(runner); }
void HookTimeBudgetHook::after_val_epoch(Runner& runner, const Metrics&) { check(runner); }
void HookTimeBudgetHook::after_test_epoch(Runner& runner, const Metrics&) { check(runner); }
void HookTimeBudgetHook::after_run(Runner& runner) { check(runner); }

void detail::register_hook_time_budget_hook(Registry<Hook>& r) {
  r.add("HookTimeBudgetHook", [](const ConfigNode& cfg) -> std::shared_ptr<Hook> {
    HookTimeBudgetOptions o;
    o.budget_ms = cfg.get<double>("budget_ms", o.budget_ms);
    o.interval = cfg.get<int64_t>("interval", o.interval);
    const nlohmann::json per_hook = cfg.get<nlohmann::json>("budgets_ms", nlohmann::json::object());
    MMHOOK_CHECK_CODE(per_hook.is_object(), Code::kConfig, cfg.path(),
                      ".budgets_ms: expected an object of hook name -> milliseconds, got ",
                      json_type_name(per_hook));
    for (const auto& [hook, ms] : per_hook.items()) {
      MMHOOK_CHECK_CODE(ms.is_number(), Code::kConfig, cfg.path(), ".budgets_ms.", hook,
                        ": expected a number, got ", json_type_name(ms));
      o.budgets_ms[hook] = ms.get<double>();
    }
    return std::make_shared<HookTimeBudgetHook>(o);
  });
}

}  // namespace mmhook
