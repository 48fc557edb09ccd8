// The hook registry and the factories of the built-in hooks.

#include <nlohmann/json.hpp>

#include "mmhook/engine/runner.h"
#include "mmhook/hooks/checkpoint_hook.h"
#include "mmhook/hooks/dist_sampler_seed_hook.h"
#include "mmhook/hooks/ema_hook.h"
#include "mmhook/hooks/early_stopping_hook.h"
#include "mmhook/hooks/hook_time_budget_hook.h"
#include "mmhook/hooks/iter_timer_hook.h"
#include "mmhook/hooks/logger_hook.h"
#include "mmhook/hooks/naive_visualization_hook.h"
#include "mmhook/hooks/param_scheduler_hook.h"
#include "mmhook/hooks/profiler_hook.h"
#include "mmhook/hooks/runtime_info_hook.h"

namespace mmhook {
namespace {

std::vector<std::string> string_or_list(const ConfigNode& cfg, const std::string& key,
                                        std::vector<std::string> fallback) {
  if (!cfg.has(key)) {
    cfg.mark_used(key);
    return fallback;
  }
  const nlohmann::json v = cfg.require<nlohmann::json>(key);
  if (v.is_string()) return {v.get<std::string>()};
  return cfg.require<std::vector<std::string>>(key);
}

template <class H>
void add_plain(Registry<Hook>& r, const char* name) {
  r.add(name, [](const ConfigNode&) -> std::shared_ptr<Hook> { return std::make_shared<H>(); });
}

}  // namespace

Registry<Hook>& hook_registry() {
  static Registry<Hook>* registry = [] {
    // Constructor checks raise invalid-argument Errors; from a config they become config Errors
    // that carry the JSON path.
    auto* r = new Registry<Hook>("hook", FactoryErrors::kConfigAtPath);
    add_plain<RuntimeInfoHook>(*r, "RuntimeInfoHook");
    add_plain<IterTimerHook>(*r, "IterTimerHook");
    add_plain<DistSamplerSeedHook>(*r, "DistSamplerSeedHook");
    add_plain<ParamSchedulerHook>(*r, "ParamSchedulerHook");
    r->add("LoggerHook", [](const ConfigNode& cfg) {
      LoggerHookOptions o;
      o.interval = cfg.get<int64_t>("interval", o.interval);
      o.ignore_last = cfg.get<bool>("ignore_last", o.ignore_last);
      o.interval_exp_name = cfg.get<int64_t>("interval_exp_name", o.interval_exp_name);
      o.log_metric_by_epoch = cfg.get<bool>("log_metric_by_epoch", o.log_metric_by_epoch);
      o.out_dir = cfg.get<std::string>("out_dir", o.out_dir);
      o.out_suffix = string_or_list(cfg, "out_suffix", o.out_suffix);
      o.keep_local = cfg.get<bool>("keep_local", o.keep_local);
      return std::make_shared<LoggerHook>(o);
    });
    r->add("CheckpointHook", [](const ConfigNode& cfg) {
      CheckpointHookOptions o;
      o.interval = cfg.get<int64_t>("interval", o.interval);
      o.by_epoch = cfg.get<bool>("by_epoch", o.by_epoch);
      o.save_optimizer = cfg.get<bool>("save_optimizer", o.save_optimizer);
      o.save_param_scheduler = cfg.get<bool>("save_param_scheduler", o.save_param_scheduler);
      o.out_dir = cfg.get<std::string>("out_dir", o.out_dir);
      o.max_keep_ckpts = cfg.get<int64_t>("max_keep_ckpts", o.max_keep_ckpts);
      o.save_last = cfg.get<bool>("save_last", o.save_last);
      o.save_best = string_or_list(cfg, "save_best", {});
      o.rule = string_or_list(cfg, "rule", {});
      o.greater_keys = string_or_list(cfg, "greater_keys", o.greater_keys);
      o.less_keys = string_or_list(cfg, "less_keys", o.less_keys);
      o.filename_tmpl = cfg.get<std::string>("filename_tmpl", o.filename_tmpl);
      o.save_begin = cfg.get<int64_t>("save_begin", o.save_begin);
      o.published_keys = string_or_list(cfg, "published_keys", {});
      o.async_save = cfg.get<bool>("async_save", o.async_save);
      return std::make_shared<CheckpointHook>(o);
    });
    register_ema_hooks(*r);
    register_profiling_hooks(*r);
    register_misc_hooks(*r);
    register_reliability_hooks(*r);
    register_visualization_hooks(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
