#pragma once
// Private: the optimizers mmhook builds, one table each (src/optim/optimizer_types.cpp). A
// table names the optimizer's options with PyTorch's keys, their config defaults and its
// per-parameter state; everything else (config parsing, construction, lr access by name,
// PyTorch-layout state dicts) is derived from it. Adding an optimizer is adding one table.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>

namespace mmhook {

class ConfigNode;

namespace detail {

/// One optimizer type: what the wrapper and the builder need of it.
class OptimizerType {
 public:
  virtual ~OptimizerType() = default;
  /// The config `type` ("SGD", ...).
  virtual const std::string& name() const = 0;
  /// Options from an `optim_wrapper.optimizer` config (its keys marked used; defaults as
  /// PyTorch's).
  virtual std::unique_ptr<torch::optim::OptimizerOptions> parse(const ConfigNode& cfg) const = 0;
  /// The LibTorch optimizer over `groups` with `defaults`.
  virtual std::shared_ptr<torch::optim::Optimizer> make(
      std::vector<torch::optim::OptimizerParamGroup> groups,
      const torch::optim::OptimizerOptions& defaults) const = 0;
  /// Numeric option `name` ("momentum" is betas[0] where the optimizer has betas), or nullopt.
  virtual std::optional<double> get(const torch::optim::OptimizerOptions& options,
                                    const std::string& name) const = 0;
  /// Writes numeric option `name`; false when the optimizer has no such option.
  virtual bool set(torch::optim::OptimizerOptions& options, const std::string& name,
                   double value) const = 0;
  /// Options as a PyTorch param_group dict (without "params"), in PyTorch's key order.
  virtual c10::impl::GenericDict options_to_dict(
      const torch::optim::OptimizerOptions& options) const = 0;
  /// Reads the option keys of `dict` into `options`; returns the keys it consumed.
  virtual std::vector<std::string> options_from_dict(torch::optim::OptimizerOptions& options,
                                                     const c10::impl::GenericDict& dict) const = 0;
  /// Per-parameter state as PyTorch's dict.
  virtual c10::impl::GenericDict state_to_dict(
      const torch::optim::OptimizerParamState& state) const = 0;
  /// Per-parameter state from PyTorch's dict (nullptr where LibTorch keeps no state yet).
  virtual std::unique_ptr<torch::optim::OptimizerParamState> state_from_dict(
      const c10::impl::GenericDict& dict) const = 0;
};

/// The type named `name`, or nullptr.
const OptimizerType* find_optimizer_type(const std::string& name);
/// The type named `name`; an invalid-argument Error listing the known types otherwise.
const OptimizerType& optimizer_type(const std::string& name);
/// The known type names, in table order.
const std::vector<std::string>& optimizer_type_names();
/// "SGD, Adam, AdamW, RMSprop or Adagrad" (for messages).
std::string optimizer_type_list();
/// The LibTorch state key of a parameter.
std::string state_key(const at::Tensor& param);
/// A new string -> any dict.
c10::impl::GenericDict new_str_dict();

}  // namespace detail
}  // namespace mmhook
