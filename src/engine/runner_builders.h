#pragma once

// The Runner's builders, one unit each, in the spirit of MMEngine's `Runner.build_*` methods.
// Each reads its part of the checked RunnerConfig and uses the Runner's public interface only.
// The other builders live with what they build: `model_registry().build` (model/),
// `build_optim_wrapper` (optim/), `build_param_schedulers` (scheduler/), `build_data_loader`
// (data/), `build_evaluator` (evaluator/), `build_vis_backends` and `RunLogger` (logging/).

#include <memory>
#include <optional>
#include <vector>

#include "mmhook/config/config_node.h"
#include "mmhook/engine/hook.h"
#include "mmhook/engine/runner_config.h"

namespace mmhook {

class Runner;
class TrainLoop;
class EvalLoop;

/// A hook built from its config, with the priority it is to be registered at.
struct BuiltHook {
  std::shared_ptr<Hook> hook;
  int priority = 0;
};

/// Builds a hook from `cfg` (`type`, optional `priority`, `after`/`before`, the type's options).
/// The priority: `priority` when given, else the config's, else the hook's default.
/// (register_hooks.cpp)
BuiltHook build_hook(const ConfigValue& cfg, std::optional<int> priority);

/// Registers the default and custom hooks in order, then checks that every `after`/`before`
/// names a registered hook. (register_hooks.cpp)
void register_hooks(Runner& runner, const std::vector<ConfigValue>& hooks);

/// The train loop of `train_cfg` over `train_dataloader`. (build_loops.cpp)
std::shared_ptr<TrainLoop> build_train_loop(Runner& runner, const RunnerConfig& cfg);

/// The val (`test` false) or test loop. In data-parallel runs its sampler does not round up,
/// so gathered metrics count every sample once. (build_loops.cpp)
std::shared_ptr<EvalLoop> build_eval_loop(Runner& runner, const EvalLoopConfig& cfg, bool test);

}  // namespace mmhook
