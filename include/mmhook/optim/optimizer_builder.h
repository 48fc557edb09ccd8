#pragma once
/// @file
/// Building optimisers and optimiser wrappers from the config's `optim_wrapper` node, with
/// MMEngine's DefaultOptimWrapperConstructor (paramwise_cfg) semantics.

#include <memory>
#include <string>

#include <torch/optim/optimizer.h>

#include "mmhook/config/config_node.h"
#include "mmhook/core/torch_fwd.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {

/// Builds a LibTorch optimiser of `cfg.type` (SGD, Adam, AdamW, RMSprop, Adagrad) over
/// `model`'s parameters, applying `paramwise_cfg` (may be an empty node) as MMEngine's
/// DefaultOptimWrapperConstructor does (one group per parameter when non-empty). Extra
/// per-group keys (custom_keys fields such as lr_mult) are returned in `group_extras`.
std::shared_ptr<torch::optim::Optimizer> build_optimizer(
    const ConfigNode& cfg, torch::nn::Module& model, const ConfigNode& paramwise_cfg,
    std::vector<OrderedMap<double>>* group_extras = nullptr);

/// Builds from an `optim_wrapper` node: {"type": "OptimWrapper"|"AmpOptimWrapper",
/// "optimizer": {...}, "accumulative_counts", "clip_grad", "paramwise_cfg", "constructor",
/// "loss_scale", "dtype"}. A node without "optimizer"/"type" whose values are all objects with
/// "optimizer" builds an OptimWrapperDict, each name over model.named_children()[name].
/// Unknown keys are config Errors naming their JSON path.
std::shared_ptr<OptimWrapper> build_optim_wrapper(const ConfigNode& cfg, torch::nn::Module& model);

}  // namespace mmhook
