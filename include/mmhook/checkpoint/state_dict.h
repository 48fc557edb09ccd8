#pragma once
/// @file
/// Model state dicts with PyTorch's names and layout, and the random generators' state.

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <string>
#include <utility>
#include <vector>

#include "mmhook/core/torch_fwd.h"

namespace mmhook {

/// `name → CPU tensor` (detached clones) in PyTorch's `state_dict()` order: each module's own
/// parameters, then its own buffers, then its children's, named like PyTorch
/// ("linear1.weight", "bn.running_mean", "bn.num_batches_tracked"). Undefined tensors are skipped.
c10::impl::GenericDict module_state_dict(const torch::nn::Module& module);

/// One live parameter or buffer of a module, named as in its state dict.
struct StateEntry {
  std::string name;   ///< "linear1.weight"
  at::Tensor value;   ///< the module's own tensor (not a copy)
  bool is_parameter;  ///< false for buffers
};

/// The module's parameters and buffers in PyTorch's `state_dict()` order (own parameters, own
/// buffers, then each child recursively); undefined tensors are skipped.
std::vector<StateEntry> state_dict_entries(const torch::nn::Module& module);

/// What `load_module_state_dict` could not match.
struct LoadReport {
  /// Module entries that the state dict lacks, in module order.
  std::vector<std::string> missing_keys;
  /// State dict entries (after key revision) that the module lacks, in state dict order.
  std::vector<std::string> unexpected_keys;
};

/// `prefix` followed by the report's mismatches: ` unexpected key(s): "a", "b". missing key(s):
/// "c".`
std::string describe_key_mismatch(const std::string& prefix, const LoadReport& report);

/// Copies `state` into the module's parameters and buffers in place (under NoGradGuard, keeping
/// each tensor's device and dtype) after applying `revise_keys` (regex, replacement) in order to
/// every key. Errors (kCheckpoint): a shape mismatch names the key and both shapes; a non-tensor
/// value names the key; with `strict`, missing or unexpected keys are listed (nothing is copied).
LoadReport load_module_state_dict(
    torch::nn::Module& module, const c10::impl::GenericDict& state, bool strict = false,
    const std::vector<std::pair<std::string, std::string>>& revise_keys = {{"^module\\.", ""}});

/// `{"cpu": ByteTensor state of the default CPU generator, "cuda": [state per device]}`; "cuda" is
/// present only when CUDA is available.
c10::IValue capture_rng_state();

/// Restores generators from `capture_rng_state()`'s value; "cuda" states are restored for the
/// devices present (extra entries are ignored). A malformed value is an Error kCheckpoint.
void restore_rng_state(const c10::IValue& state);

}  // namespace mmhook
