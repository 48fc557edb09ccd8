#pragma once
// Private helpers: per-optimiser access to LibTorch options and per-parameter state by
// PyTorch's key names, so the wrapper can expose groups and state dicts in PyTorch's layout.

#include <optional>
#include <string>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>

namespace mmhook {
namespace detail {

/// Throws unless `type` is one of SGD, Adam, AdamW, RMSprop, Adagrad.
void check_optimizer_type(const std::string& type);
/// Numeric option `name` of `options` ("momentum" is betas[0] for Adam/AdamW), or nullopt.
std::optional<double> get_option(const std::string& type,
                                 const torch::optim::OptimizerOptions& options,
                                 const std::string& name);
/// Writes numeric option `name`; returns false when the optimiser has no such option.
bool set_option(const std::string& type, torch::optim::OptimizerOptions& options,
                const std::string& name, double value);
/// Options as a PyTorch param_group dict (without "params").
c10::impl::GenericDict options_to_dict(const std::string& type,
                                       const torch::optim::OptimizerOptions& options);
/// Reads the option keys of `dict` into `options`; returns the keys it consumed.
std::vector<std::string> options_from_dict(const std::string& type,
                                           torch::optim::OptimizerOptions& options,
                                           const c10::impl::GenericDict& dict);
/// Per-parameter state as PyTorch's dict.
c10::impl::GenericDict state_to_dict(const std::string& type,
                                     const torch::optim::OptimizerParamState& state);
/// Per-parameter state from PyTorch's dict.
std::unique_ptr<torch::optim::OptimizerParamState> state_from_dict(
    const std::string& type, const c10::impl::GenericDict& dict);
/// The LibTorch state key of a parameter.
std::string state_key(const at::Tensor& param);
/// A new string -> any dict.
c10::impl::GenericDict new_str_dict();

}  // namespace detail
}  // namespace mmhook
