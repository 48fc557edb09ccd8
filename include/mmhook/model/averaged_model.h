#pragma once
/// @file
/// Averaged copies of a model's weights (`mmengine/model/averaged_model.py`, docs/design.md §B4.7):
/// `ExponentialMovingAverage`, `MomentumAnnealingEMA` and `StochasticWeightAverage`.
///
/// The averaged "module" is a deep copy of the source's parameters and buffers (same names,
/// devices and dtypes, `requires_grad=false`), kept in PyTorch's state-dict order, plus the long
/// counter `steps`. Sources passed to `update_parameters` and `swap_with` must have the same
/// parameter and buffer names as the model the average was built from.

#include <ATen/core/Dict.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/torch_fwd.h"

namespace mmhook {

/// One tensor of the averaged module.
struct AveragedTensor {
  std::string name;  ///< state-dict name ("linear1.weight")
  at::Tensor value;  ///< the averaged value (own storage)
  bool is_param;     ///< parameter (true) or buffer (false)
};

/// MMEngine's `BaseAveragedModel`: `avg_func` is the only thing subclasses define.
class AveragedModel {
 public:
  /// Deep-copies `source`'s parameters and buffers (onto `device` when given, else each tensor's
  /// own device). `interval` (>= 1): average every n-th update; `update_buffers`: average the
  /// buffers too (else they are copied every update).
  AveragedModel(const torch::nn::Module& source, int64_t interval, bool update_buffers,
                const std::optional<c10::Device>& device = std::nullopt);
  virtual ~AveragedModel() = default;
  AveragedModel(const AveragedModel&) = delete;
  AveragedModel& operator=(const AveragedModel&) = delete;

  /// The class name ("ExponentialMovingAverage").
  virtual std::string type_name() const = 0;

  /// MMEngine's `update_parameters`: copy at `steps == 0`, else `avg_func` on the floating-point
  /// averaged tensors when `steps % interval == 0`; buffers are copied when `!update_buffers`;
  /// then `steps += 1`.
  void update_parameters(const torch::nn::Module& source);

  /// Number of `update_parameters` calls so far (the `steps` buffer).
  int64_t steps() const;
  /// Average every n-th update.
  int64_t interval() const { return interval_; }
  /// Whether buffers are averaged (and swapped) too.
  bool update_buffers() const { return update_buffers_; }
  /// The averaged tensors in state-dict order (live: writes change the average).
  const std::vector<AveragedTensor>& tensors() const { return tensors_; }
  /// The averaged tensor named `name` (a live view); Error kNotFound when absent.
  at::Tensor tensor(const std::string& name) const;

  /// PyTorch's `AveragedModel.state_dict()`: `steps` first, then `module.<name>` for every
  /// parameter and buffer; detached CPU clones.
  c10::impl::GenericDict state_dict() const;
  /// Loads a dict shaped like `state_dict()` (`steps` and `module.<name>` keys). Shape
  /// mismatches and non-tensor values are Errors kCheckpoint naming the key; with `strict`,
  /// missing or unexpected keys are an Error (nothing is copied).
  LoadReport load_state_dict(const c10::impl::GenericDict& state, bool strict);
  /// Loads a model state dict (unprefixed names, MMEngine's `load_state_dict(ema.module, ...)`):
  /// `steps` is untouched. Same errors as `load_state_dict`.
  LoadReport load_module_state_dict(const c10::impl::GenericDict& state, bool strict);
  /// Copies every parameter and buffer of `source` into the average; `steps` is untouched
  /// (what EMAHook does before its start).
  void copy_from(const torch::nn::Module& source);
  /// Exchanges the values of the averaged parameters (and buffers with `update_buffers`) with
  /// `source`'s, in place and exactly (MMEngine's `EMAHook._swap_ema_parameters`).
  void swap_with(torch::nn::Module& source);

 protected:
  /// Averages `source` into `averaged` in place; `steps` is the counter before the update.
  virtual void avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t steps) = 0;

 private:
  std::vector<at::Tensor> matching_sources(const torch::nn::Module& source, const char* what) const;
  LoadReport load_named(const c10::impl::GenericDict& state, bool strict, bool prefixed);

  int64_t interval_;
  bool update_buffers_;
  std::vector<AveragedTensor> tensors_;
  at::Tensor steps_;
};

/// `avg = avg + momentum * (src - avg)` (lerp): `momentum` weights the new value.
class ExponentialMovingAverage : public AveragedModel {
 public:
  /// `momentum` must be in (0, 1) (Error naming the value); above 0.5 logs a warning.
  ExponentialMovingAverage(const torch::nn::Module& source, double momentum = 0.0002,
                           int64_t interval = 1, bool update_buffers = false,
                           const std::optional<c10::Device>& device = std::nullopt);
  std::string type_name() const override { return "ExponentialMovingAverage"; }
  /// The configured momentum.
  double momentum() const { return momentum_; }

 protected:
  void avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t steps) override;

 private:
  double momentum_;
};

/// EMA with `m = max(momentum, gamma / (gamma + steps))`.
class MomentumAnnealingEMA : public ExponentialMovingAverage {
 public:
  /// `gamma` must be > 0 (Error naming the value).
  MomentumAnnealingEMA(const torch::nn::Module& source, double momentum = 0.0002,
                       double gamma = 100, int64_t interval = 1, bool update_buffers = false,
                       const std::optional<c10::Device>& device = std::nullopt);
  std::string type_name() const override { return "MomentumAnnealingEMA"; }
  /// The configured gamma.
  double gamma() const { return gamma_; }

 protected:
  void avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t steps) override;

 private:
  double gamma_;
};

/// Equal-weight average: `avg += (src - avg) / (steps / interval + 1)`.
class StochasticWeightAverage : public AveragedModel {
 public:
  /// See `AveragedModel`.
  StochasticWeightAverage(const torch::nn::Module& source, int64_t interval = 1,
                          bool update_buffers = false,
                          const std::optional<c10::Device>& device = std::nullopt);
  std::string type_name() const override { return "StochasticWeightAverage"; }

 protected:
  void avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t steps) override;
};

/// Options of `build_averaged_model` (the EMAHook's `**kwargs`; unset means the type's default).
struct AveragedModelOptions {
  std::optional<double> momentum;     ///< EMA types only (default 0.0002)
  std::optional<double> gamma;        ///< MomentumAnnealingEMA only (default 100)
  int64_t interval = 1;               ///< average every n-th update (>= 1)
  bool update_buffers = false;        ///< average buffers too
  std::optional<std::string> device;  ///< device of the average ("cuda:0"); default: the model's
};

/// The averaged model of type `type` ("ExponentialMovingAverage", "MomentumAnnealingEMA",
/// "StochasticWeightAverage"); an unknown type, an option the type does not take or an invalid
/// device string is an Error kInvalidArgument naming it.
std::unique_ptr<AveragedModel> build_averaged_model(const std::string& type,
                                                    const torch::nn::Module& source,
                                                    const AveragedModelOptions& options);

/// The type names `build_averaged_model` accepts.
std::vector<std::string> averaged_model_types();

}  // namespace mmhook
