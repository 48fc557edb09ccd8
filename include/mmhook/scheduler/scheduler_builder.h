#pragma once
/// @file
/// Builds the `param_scheduler` config entry (one object or a list) into schedulers, as
/// MMEngine's `Runner.build_param_scheduler` does: `end` defaults to the loop length,
/// `convert_to_iter_based` turns epoch arguments into iterations.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mmhook/config/registry.h"

namespace mmhook {

class OptimWrapper;
class ParamScheduler;

/// What a scheduler factory needs besides its config.
struct SchedulerBuildContext {
  OptimWrapper* optim_wrapper = nullptr;  ///< the wrapper whose groups are scheduled
  int64_t epoch_length = 0;               ///< len(train_dataloader)
  bool convert_to_iter_based = false;     ///< epoch arguments are multiplied by epoch_length
};

/// Scheduler registry: "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
/// "PolyLR", "CosineAnnealingLR", "CosineRestartLR", "OneCycleLR", "ReduceOnPlateauLR", their
/// Momentum and generic
/// `*ParamScheduler` variants (the latter read `param_name`).
Registry<ParamScheduler, const SchedulerBuildContext&>& scheduler_registry();

/// Builds every scheduler of `cfg` (an object or a list of objects found at `path`).
/// `max_epochs`/`max_iters` give the default `end` for epoch- and iteration-based schedulers
/// (before conversion; a value <= 0 leaves `end` at INF). `convert_to_iter_based: true` in an
/// entry multiplies begin/end/step_size/milestones/T_max/periods/total_steps by `epoch_length`.
std::vector<std::shared_ptr<ParamScheduler>> build_param_schedulers(
    const nlohmann::json& cfg, const std::string& path, OptimWrapper& optim_wrapper,
    int64_t epoch_length, int64_t max_epochs, int64_t max_iters);

}  // namespace mmhook
