// The hook registry: every built-in hook registers its own factory from its source file
// (builtin_hooks.h says why through a list of calls). ClosureHook takes a C++ function and has
// no JSON form, so it is not registered.

#include <nlohmann/json.hpp>

#include "hooks/builtin_hooks.h"
#include "mmhook/engine/runner.h"

namespace mmhook {

std::vector<std::string> detail::string_or_list(const ConfigNode& cfg, const std::string& key,
                                                std::vector<std::string> fallback) {
  if (!cfg.has(key)) {
    cfg.mark_used(key);
    return fallback;
  }
  const nlohmann::json v = cfg.require<nlohmann::json>(key);
  if (v.is_string()) return {v.get<std::string>()};
  return cfg.require<std::vector<std::string>>(key);
}

Registry<Hook>& hook_registry() {
  static Registry<Hook>* registry = [] {
    // Constructor checks raise invalid-argument Errors; from a config they become config Errors
    // that carry the JSON path.
    auto* r = new Registry<Hook>("hook", FactoryErrors::kConfigAtPath);
    // MMEngine's default hooks.
    detail::register_runtime_info_hook(*r);
    detail::register_iter_timer_hook(*r);
    detail::register_dist_sampler_seed_hook(*r);
    detail::register_logger_hook(*r);
    detail::register_param_scheduler_hook(*r);
    detail::register_checkpoint_hook(*r);
    // The others.
    detail::register_check_invalid_loss_hook(*r);
    detail::register_early_stopping_hook(*r);
    detail::register_ema_hook(*r);
    detail::register_empty_cache_hook(*r);
    detail::register_hook_time_budget_hook(*r);
    detail::register_naive_visualization_hook(*r);
    detail::register_profiler_hook(*r);
    detail::register_progress_bar_hook(*r);
    detail::register_sync_buffers_hook(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
