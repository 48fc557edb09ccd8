#pragma once
// The registration functions of the built-in hooks. Each is defined in its hook's own source
// file and adds that hook's factory (the options read from JSON) to the hook registry;
// `hook_registry()` (hook_registry.cpp) calls them all. A list of calls rather than static
// initialisers: the hooks sit in the static library mmhook_engine, whose object files the linker
// leaves out of a program that references nothing in them, and a registration made by a static
// initialiser would be left out with them.

#include <string>
#include <vector>

#include "mmhook/config/config_node.h"
#include "mmhook/config/registry.h"
#include "mmhook/engine/hook.h"

namespace mmhook::detail {

/// Registers `H` under `name` with a factory that takes no options.
template <class H>
void add_hook_without_options(Registry<Hook>& registry, const char* name) {
  registry.add(name,
               [](const ConfigNode&) -> std::shared_ptr<Hook> { return std::make_shared<H>(); });
}

/// A `str | list[str]` option: one string or a list of them; `fallback` when absent.
std::vector<std::string> string_or_list(const ConfigNode& cfg, const std::string& key,
                                        std::vector<std::string> fallback);

void register_checkpoint_hook(Registry<Hook>& registry);
void register_check_invalid_loss_hook(Registry<Hook>& registry);
void register_dist_sampler_seed_hook(Registry<Hook>& registry);
void register_early_stopping_hook(Registry<Hook>& registry);
void register_ema_hook(Registry<Hook>& registry);
void register_empty_cache_hook(Registry<Hook>& registry);
void register_hook_time_budget_hook(Registry<Hook>& registry);
void register_iter_timer_hook(Registry<Hook>& registry);
void register_logger_hook(Registry<Hook>& registry);
void register_naive_visualization_hook(Registry<Hook>& registry);
void register_param_scheduler_hook(Registry<Hook>& registry);
void register_profiler_hook(Registry<Hook>& registry);
void register_progress_bar_hook(Registry<Hook>& registry);
void register_runtime_info_hook(Registry<Hook>& registry);
void register_sync_buffers_hook(Registry<Hook>& registry);

}  // namespace mmhook::detail
