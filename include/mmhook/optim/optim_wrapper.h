#pragma once
/// @file
/// `OptimWrapper`: MMEngine's optimiser wrapper (gradient accumulation, clipping, parameter
/// groups as schedulers see them, PyTorch-layout state dicts) over a LibTorch optimiser.
///
/// Contract for subclasses: override `scale_loss`/`backward`/`step` to change the update;
/// `update_params` only sequences them. Group values always go through `get_group_value` /
/// `set_group_value` so the synthetic base group and the side table stay consistent.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "mmhook/core/ordered_map.h"
#include "mmhook/core/torch_fwd.h"

namespace mmhook {

/// Gradient clipping settings (MMEngine's `clip_grad` dict).
struct ClipGradOptions {
  /// "norm" (clip_grad_norm_, reports train/grad_norm) or "value" (clip_grad_value_). Default
  /// "norm".
  std::string type = "norm";
  /// Maximum total norm for "norm". Default 0.
  double max_norm = 0;
  /// Norm type for "norm". Default 2.
  double norm_type = 2.0;
  /// Clip value for "value". Default 0.
  double clip_value = 0;
};

/// RAII scope returned by `optim_context`; its destructor restores what it changed.
class OptimContext {
 public:
  /// Restores the state changed on entry.
  virtual ~OptimContext() = default;
};

/// What a data-parallel run plugs into `OptimWrapper::backward` (either may be empty).
struct GradSyncCallbacks {
  /// Called before `loss.backward()` with `should_sync()` (e.g. arms gradient hooks).
  std::function<void(bool sync)> before_backward;
  /// Called after `loss.backward()` with the same flag (e.g. waits for the reduction).
  std::function<void(bool sync)> after_backward;
};

/// MMEngine's OptimWrapper(optimizer, accumulative_counts=1, clip_grad=None).
class OptimWrapper {
 public:
  /// Receives scalars the wrapper reports ("train/grad_norm").
  using ScalarSink = std::function<void(const std::string& key, double value)>;

  /// Wraps `optimizer` of type `optimizer_type` ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad").
  /// `accumulative_counts` must be >= 1.
  OptimWrapper(std::shared_ptr<torch::optim::Optimizer> optimizer, std::string optimizer_type,
               int64_t accumulative_counts = 1,
               std::optional<ClipGradOptions> clip_grad = std::nullopt);
  /// Virtual destructor.
  virtual ~OptimWrapper();

  /// scale_loss, backward, then step and zero_grad when should_update().
  virtual void update_params(const at::Tensor& loss);
  /// Divides the loss by the accumulation factor (acc, or the remainder at the end of the run).
  virtual at::Tensor scale_loss(const at::Tensor& loss) const;
  /// loss.backward(); ++inner_count.
  virtual void backward(const at::Tensor& loss);
  /// Clips (when configured) then steps the optimiser.
  virtual void step();
  /// Zeroes the gradients.
  virtual void zero_grad();
  /// `inner_count % acc == 0 || inner_count == max_counts`.
  bool should_update() const;
  /// `(inner_count+1) % acc == 0 || inner_count+1 == max_counts`.
  bool should_sync() const;
  /// Sets inner_count, max_counts and the remainder; warns like MMEngine.
  virtual void initialize_count_status(const torch::nn::Module& model, int64_t init_counts,
                                       int64_t max_counts);
  /// Scope for the forward/backward of one iteration (plain here; AMP enables autocast).
  virtual std::unique_ptr<OptimContext> optim_context(torch::nn::Module& model);

  /// Real groups plus the synthetic base group when there is more than one real group.
  virtual size_t num_param_groups() const;
  /// True when group `group` has the value `name`.
  virtual bool has_group_value(size_t group, const std::string& name) const;
  /// Value `name` of group `group`; missing: Error kNotFound naming group and key.
  virtual double get_group_value(size_t group, const std::string& name) const;
  /// Writes `name` of group `group` (through to the LibTorch options for optimiser keys).
  virtual void set_group_value(size_t group, const std::string& name, double value);
  /// True when a synthetic base group exists (more than one real group).
  bool has_base_group() const { return base_options_ != nullptr; }

  /// {"base_lr": [..]} first when a base group exists, then {"lr": [...]}.
  virtual OrderedMap<std::vector<double>> get_lr() const;
  /// `out = get_lr()`, reusing `out`'s storage when it already has get_lr()'s keys: once warm,
  /// no heap allocation (RuntimeInfoHook calls it every iteration).
  virtual void get_lr_into(OrderedMap<std::vector<double>>& out) const;
  /// {"momentum": [...]}: momentum, else betas[0], else 0 per real group.
  virtual OrderedMap<std::vector<double>> get_momentum() const;

  /// PyTorch-layout optimiser state dict plus "base_param_settings" when present.
  virtual c10::IValue state_dict() const;
  /// Inverse of state_dict (bit-identical resume).
  virtual void load_state_dict(const c10::IValue& state);

  /// Number of backward calls counted so far.
  int64_t inner_count() const { return inner_count_; }
  /// Total iterations of the run (-1 until initialize_count_status).
  int64_t max_counts() const { return max_counts_; }
  /// max_counts % accumulative_counts (-1 until initialize_count_status).
  int64_t remainder_counts() const { return remainder_counts_; }
  /// Gradient accumulation count.
  int64_t accumulative_counts() const { return accumulative_counts_; }
  /// Clip settings, if any.
  const std::optional<ClipGradOptions>& clip_grad() const { return clip_grad_; }
  /// Overrides the inner counter (tests, resume).
  void set_inner_count(int64_t count) { inner_count_ = count; }
  /// The wrapped optimiser.
  torch::optim::Optimizer& optimizer();
  /// The wrapped optimiser.
  const torch::optim::Optimizer& optimizer() const;
  /// Optimiser type name ("SGD", ...).
  const std::string& optimizer_type() const { return optimizer_type_; }
  /// Sets where scalars such as train/grad_norm go (none by default).
  void set_scalar_sink(ScalarSink sink) { scalar_sink_ = std::move(sink); }
  /// Sets what averages the gradients across processes (data-parallel runs; none by default).
  /// backward() calls `before_backward(sync)` before and `after_backward(sync)` after
  /// `loss.backward()`, with `sync = should_sync()`: false while accumulating without an update,
  /// where nothing may communicate (DDP's no_sync).
  void set_grad_sync(GradSyncCallbacks callbacks) { grad_sync_ = std::move(callbacks); }
  /// Sets a synchroniser that runs after each backward that should_sync() and is skipped by the
  /// others.
  void set_grad_sync(std::function<void()> sync);
  /// True when a gradient synchroniser is set.
  bool has_grad_sync() const {
    return static_cast<bool>(grad_sync_.before_backward) ||
           static_cast<bool>(grad_sync_.after_backward);
  }

 protected:
  /// For OptimWrapperDict: no optimiser of its own.
  OptimWrapper();
  /// Clips the gradients of the optimiser's parameters and reports grad_norm.
  void clip_grads();
  /// Reports a scalar to the sink, if any.
  void report_scalar(const std::string& key, double value) const;
  /// Runs the synchroniser's before_backward, if any (backward() calls it with should_sync()
  /// before `loss.backward()`).
  void begin_grad_sync(bool sync) const {
    if (grad_sync_.before_backward) grad_sync_.before_backward(sync);
  }
  /// Runs the synchroniser's after_backward, if any (backward() calls it with the flag it gave
  /// begin_grad_sync, after `loss.backward()`).
  void end_grad_sync(bool sync) const {
    if (grad_sync_.after_backward) grad_sync_.after_backward(sync);
  }
  /// Optimiser state dict without base_param_settings.
  c10::impl::GenericDict optimizer_state_dict() const;
  /// Loads the optimiser part (and base_param_settings when present) of `state`.
  void load_optimizer_state_dict(const c10::impl::GenericDict& state);

  /// Backward passes counted so far (MMEngine's `_inner_count`).
  int64_t inner_count_ = 0;
  /// Total iterations of the run, -1 until `initialize_count_status` (`_max_counts`).
  int64_t max_counts_ = -1;
  /// Iterations of the last, incomplete accumulation window (`_remainder_counts`).
  int64_t remainder_counts_ = -1;
  /// Iterations whose gradients are accumulated before a step.
  int64_t accumulative_counts_ = 1;

 private:
  torch::optim::OptimizerOptions& options_of(size_t group);
  const torch::optim::OptimizerOptions& options_of(size_t group) const;
  void check_group(size_t group) const;

  std::shared_ptr<torch::optim::Optimizer> optimizer_;
  std::string optimizer_type_;
  std::optional<ClipGradOptions> clip_grad_;
  std::unique_ptr<torch::optim::OptimizerOptions> base_options_;
  std::vector<OrderedMap<double>> extras_;  // per group (incl. base), keys outside the options
  ScalarSink scalar_sink_;
  GradSyncCallbacks grad_sync_;
};

/// Parses a dtype name ("float16", "bfloat16", "float32", "float64") for AMP.
at::ScalarType parse_amp_dtype(const std::string& name);

/// A minimal GradScaler (LibTorch 1.13 C++ has none): scale, unscale_, skip on inf/nan, update.
class GradScaler {
 public:
  /// PyTorch's defaults: init_scale 2^16, growth 2, backoff 0.5, growth_interval 2000.
  GradScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5,
             int64_t growth_interval = 2000);
  /// loss * scale.
  at::Tensor scale(const at::Tensor& loss) const;
  /// Divides the gradients of `optimizer` by the scale once per step and records inf/nan.
  void unscale_(torch::optim::Optimizer& optimizer);
  /// Steps unless the (unscaled) gradients had inf/nan; returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  /// Static scale when `new_scale` is given, else the dynamic growth/backoff rule.
  void update(std::optional<double> new_scale = std::nullopt);
  /// Current scale.
  double get_scale() const { return scale_; }
  /// Growth factor.
  double growth_factor() const { return growth_factor_; }
  /// Backoff factor.
  double backoff_factor() const { return backoff_factor_; }
  /// Growth interval.
  int64_t growth_interval() const { return growth_interval_; }
  /// Consecutive finite steps since the last change.
  int64_t growth_tracker() const { return growth_tracker_; }
  /// {"scale","growth_factor","backoff_factor","growth_interval","_growth_tracker"}.
  c10::IValue state_dict() const;
  /// Inverse of state_dict.
  void load_state_dict(const c10::IValue& state);

 private:
  double scale_;
  double growth_factor_;
  double backoff_factor_;
  int64_t growth_interval_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;
  bool found_inf_ = false;
};

/// MMEngine's AmpOptimWrapper(loss_scale='dynamic', dtype=None, ...); works on CPU too.
class AmpOptimWrapper : public OptimWrapper {
 public:
  /// `loss_scale`: "dynamic", a number (static scale), or an object of GradScaler kwargs
  /// (init_scale, growth_factor, backoff_factor, growth_interval); anything else is an
  /// invalid-argument Error. `dtype`: float16|bfloat16|float32|float64, nullopt = device default.
  AmpOptimWrapper(std::shared_ptr<torch::optim::Optimizer> optimizer, std::string optimizer_type,
                  const nlohmann::json& loss_scale = "dynamic",
                  std::optional<std::string> dtype = std::nullopt, int64_t accumulative_counts = 1,
                  std::optional<ClipGradOptions> clip_grad = std::nullopt);
  /// scaler.scale(loss).backward(); ++inner_count.
  void backward(const at::Tensor& loss) override;
  /// unscale_ + clip (when configured), scaler.step, scaler.update(scale_update_param).
  void step() override;
  /// Enables autocast (CPU: bfloat16 default, CUDA: float16 default) until destroyed.
  std::unique_ptr<OptimContext> optim_context(torch::nn::Module& model) override;
  /// Parent state plus "loss_scaler".
  c10::IValue state_dict() const override;
  /// Pops "loss_scaler" and loads the rest.
  void load_state_dict(const c10::IValue& state) override;
  /// The scaler.
  GradScaler& loss_scaler() { return scaler_; }
  /// Static scale for update(), nullopt for "dynamic" and dict forms.
  std::optional<double> scale_update_param() const { return scale_update_param_; }
  /// Autocast dtype, nullopt for the device default.
  std::optional<at::ScalarType> cast_dtype() const { return cast_dtype_; }

 private:
  std::optional<double> scale_update_param_;  // declared first: scaler_'s initializer sets it
  GradScaler scaler_;
  std::optional<at::ScalarType> cast_dtype_;
};

/// MMEngine's OptimWrapperDict: name -> wrapper, insertion ordered.
class OptimWrapperDict : public OptimWrapper {
 public:
  /// Builds from named wrappers (none may be null).
  explicit OptimWrapperDict(
      std::vector<std::pair<std::string, std::shared_ptr<OptimWrapper>>> wrappers);
  /// Not implemented for the dict: Error kFailedPrecondition.
  void update_params(const at::Tensor& loss) override;
  /// Not implemented for the dict: Error kFailedPrecondition.
  void backward(const at::Tensor& loss) override;
  /// Not implemented for the dict: Error kFailedPrecondition.
  void step() override;
  /// Zeroes every wrapper.
  void zero_grad() override;
  /// No-op (each wrapper is driven by the model).
  void initialize_count_status(const torch::nn::Module& model, int64_t init_counts,
                               int64_t max_counts) override;
  /// Not implemented for the dict: Error kFailedPrecondition.
  std::unique_ptr<OptimContext> optim_context(torch::nn::Module& model) override;
  /// Groups of all wrappers, concatenated in order.
  size_t num_param_groups() const override;
  /// Delegates to the wrapper owning the group.
  bool has_group_value(size_t group, const std::string& name) const override;
  /// Delegates to the wrapper owning the group.
  double get_group_value(size_t group, const std::string& name) const override;
  /// Delegates to the wrapper owning the group.
  void set_group_value(size_t group, const std::string& name, double value) override;
  /// {"name.base_lr"?, "name.lr"} per wrapper.
  OrderedMap<std::vector<double>> get_lr() const override;
  /// `out = get_lr()` (allocates; one wrapper's get_lr_into does not).
  void get_lr_into(OrderedMap<std::vector<double>>& out) const override;
  /// {"name.momentum"} per wrapper.
  OrderedMap<std::vector<double>> get_momentum() const override;
  /// {name: wrapper state dict}.
  c10::IValue state_dict() const override;
  /// Every key must name a wrapper ("Mismatched state_dict").
  void load_state_dict(const c10::IValue& state) override;
  /// Wrapper by name; unknown: Error kNotFound.
  OptimWrapper& operator[](const std::string& name) const;
  /// Shared pointer to a wrapper by name; unknown: Error kNotFound.
  std::shared_ptr<OptimWrapper> at(const std::string& name) const;
  /// True when `name` is present.
  bool contains(const std::string& name) const { return wrappers_.contains(name); }
  /// Names in insertion order.
  std::vector<std::string> keys() const { return wrappers_.keys(); }
  /// Number of wrappers.
  size_t size() const { return wrappers_.size(); }
  /// Name/wrapper pairs in insertion order.
  const OrderedMap<std::shared_ptr<OptimWrapper>>& items() const { return wrappers_; }

 private:
  std::pair<OptimWrapper*, size_t> locate(size_t group) const;
  OrderedMap<std::shared_ptr<OptimWrapper>> wrappers_;
};

}  // namespace mmhook
