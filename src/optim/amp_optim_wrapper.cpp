#include <ATen/core/grad_mode.h>
#include <ATen/ops/isfinite.h>
#include <torch/nn/module.h>
#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"
#include "mmhook/optim/optim_wrapper.h"
#include "optim/loss_check.h"
#include "optim/optimizer_types.h"

namespace mmhook {

namespace {

double as_double(const c10::IValue& v, const char* key) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isTensor()) return v.toTensor().item<double>();
  MMHOOK_THROW(Code::kCheckpoint, "loss_scaler state: '", key, "' is not a number");
}

// Enables autocast for one device type and restores the previous settings on destruction,
// like `torch.autocast.__enter__/__exit__`.
class AutocastContext : public OptimContext {
 public:
  AutocastContext(bool cuda, at::ScalarType dtype) : cuda_(cuda) {
    if (cuda_) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(dtype);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(dtype);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastContext() override {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
  }

 private:
  bool cuda_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

}  // namespace

at::ScalarType parse_amp_dtype(const std::string& name) {
  if (name == "float16" || name == "half") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float32" || name == "float") return at::kFloat;
  if (name == "float64" || name == "double") return at::kDouble;
  MMHOOK_THROW(Code::kInvalidArgument,
               "AmpOptimWrapper.dtype must be one of float16, bfloat16, "
               "float32, float64, got '",
               name, "'");
}

// ------------------------------------------------------------------------------ GradScaler

GradScaler::GradScaler(double init_scale, double growth_factor, double backoff_factor,
                       int64_t growth_interval)
    : scale_(init_scale),
      growth_factor_(growth_factor),
      backoff_factor_(backoff_factor),
      growth_interval_(growth_interval) {
  MMHOOK_CHECK(init_scale > 0, "GradScaler.init_scale must be > 0, got ", init_scale);
  MMHOOK_CHECK(growth_factor > 1.0, "GradScaler.growth_factor should be > 1, got ", growth_factor);
  MMHOOK_CHECK(backoff_factor < 1.0 && backoff_factor > 0,
               "GradScaler.backoff_factor should be in (0, 1), got ", backoff_factor);
  MMHOOK_CHECK(growth_interval > 0, "GradScaler.growth_interval should be a positive integer, got ",
               growth_interval);
}

at::Tensor GradScaler::scale(const at::Tensor& loss) const {
  return loss * static_cast<float>(scale_);
}

void GradScaler::unscale_(torch::optim::Optimizer& optimizer) {
  MMHOOK_CHECK_CODE(
      !unscaled_, Code::kFailedPrecondition,
      "unscale_() has already been called on this optimizer since the last update().");
  // PyTorch computes inv_scale in double, then keeps it as float32.
  const float inv_scale = static_cast<float>(1.0 / scale_);
  bool found_inf = false;
  at::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      at::Tensor g = p.grad();
      g.mul_(inv_scale);
      if (!found_inf && !at::isfinite(g).all().item<bool>()) found_inf = true;
    }
  }
  found_inf_ = found_inf;
  unscaled_ = true;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!unscaled_) unscale_(optimizer);
  if (found_inf_) return false;
  optimizer.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (new_scale) {
    scale_ = *new_scale;
  } else if (unscaled_) {
    if (found_inf_) {
      scale_ *= backoff_factor_;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == growth_interval_) {
      scale_ *= growth_factor_;
      growth_tracker_ = 0;
    }
  }
  unscaled_ = false;
  found_inf_ = false;
}

c10::IValue GradScaler::state_dict() const {
  auto d = detail::new_str_dict();
  d.insert("scale", scale_);
  d.insert("growth_factor", growth_factor_);
  d.insert("backoff_factor", backoff_factor_);
  d.insert("growth_interval", growth_interval_);
  d.insert("_growth_tracker", growth_tracker_);
  return d;
}

void GradScaler::load_state_dict(const c10::IValue& state) {
  MMHOOK_CHECK_CODE(state.isGenericDict(), Code::kCheckpoint, "loss_scaler state must be a dict");
  auto d = state.toGenericDict();
  auto get = [&](const char* key) {
    auto it = d.find(c10::IValue(std::string(key)));
    MMHOOK_CHECK_CODE(
        it != d.end(), Code::kCheckpoint,
        "The source state dict is empty, possibly because it was saved from a disabled "
        "instance of GradScaler (missing '",
        key, "').");
    return as_double(it->value(), key);
  };
  scale_ = get("scale");
  growth_factor_ = get("growth_factor");
  backoff_factor_ = get("backoff_factor");
  growth_interval_ = static_cast<int64_t>(get("growth_interval"));
  growth_tracker_ = static_cast<int64_t>(get("_growth_tracker"));
  unscaled_ = false;
  found_inf_ = false;
}

// ------------------------------------------------------------------------------ AmpOptimWrapper

namespace {

GradScaler scaler_from(const nlohmann::json& loss_scale, std::optional<double>* static_scale) {
  if (loss_scale.is_string() && loss_scale.get<std::string>() == "dynamic") return GradScaler();
  if (loss_scale.is_number()) {
    *static_scale = loss_scale.get<double>();
    return GradScaler(loss_scale.get<double>());
  }
  if (loss_scale.is_object()) {
    GradScaler defaults;
    double init = defaults.get_scale(), growth = defaults.growth_factor(),
           backoff = defaults.backoff_factor();
    int64_t interval = defaults.growth_interval();
    for (auto it = loss_scale.begin(); it != loss_scale.end(); ++it) {
      const std::string& k = it.key();
      MMHOOK_CHECK(it.value().is_number(), "AmpOptimWrapper.loss_scale.", k, " must be a number");
      if (k == "init_scale")
        init = it.value().get<double>();
      else if (k == "growth_factor")
        growth = it.value().get<double>();
      else if (k == "backoff_factor")
        backoff = it.value().get<double>();
      else if (k == "growth_interval")
        interval = it.value().get<int64_t>();
      else if (k == "enabled")
        continue;
      else
        MMHOOK_THROW(Code::kInvalidArgument,
                     "AmpOptimWrapper.loss_scale: unknown GradScaler argument '", k,
                     "' (expected init_scale, growth_factor, backoff_factor, growth_interval)");
    }
    return GradScaler(init, growth, backoff, interval);
  }
  MMHOOK_THROW(Code::kInvalidArgument,
               "loss_scale must be of type float, dict, or \"dynamic\", but got ",
               loss_scale.dump());
}

}  // namespace

AmpOptimWrapper::AmpOptimWrapper(std::shared_ptr<torch::optim::Optimizer> optimizer,
                                 std::string optimizer_type, const nlohmann::json& loss_scale,
                                 std::optional<std::string> dtype, int64_t accumulative_counts,
                                 std::optional<ClipGradOptions> clip_grad)
    : OptimWrapper(std::move(optimizer), std::move(optimizer_type), accumulative_counts,
                   std::move(clip_grad)),
      scaler_(scaler_from(loss_scale, &scale_update_param_)) {
  if (dtype) cast_dtype_ = parse_amp_dtype(*dtype);
}

void AmpOptimWrapper::backward(const at::Tensor& loss) {
  check_loss_for_backward(loss);
  const bool sync = should_sync();
  begin_grad_sync(sync);
  scaler_.scale(loss).backward();
  ++inner_count_;
  end_grad_sync(sync);
}

void AmpOptimWrapper::step() {
  if (clip_grad()) {
    scaler_.unscale_(optimizer());
    clip_grads();
  }
  scaler_.step(optimizer());
  scaler_.update(scale_update_param_);
}

std::unique_ptr<OptimContext> AmpOptimWrapper::optim_context(torch::nn::Module& model) {
  bool cuda = false;
  for (const auto& p : model.parameters()) {
    cuda = p.is_cuda();
    break;
  }
  at::ScalarType dtype = cast_dtype_.value_or(cuda ? at::kHalf : at::kBFloat16);
  const bool supported =
      cuda ? (dtype == at::kHalf || dtype == at::kBFloat16) : dtype == at::kBFloat16;
  if (!supported) {
    // torch.autocast warns and disables itself for dtypes the device cannot autocast to.
    spdlog::warn("In {} autocast, but the target dtype is not supported. Disabling autocast.",
                 cuda ? "CUDA" : "CPU");
    return std::make_unique<OptimContext>();
  }
  return std::make_unique<AutocastContext>(cuda, dtype);
}

c10::IValue AmpOptimWrapper::state_dict() const {
  auto d = OptimWrapper::state_dict().toGenericDict();
  d.insert("loss_scaler", scaler_.state_dict());
  return d;
}

void AmpOptimWrapper::load_state_dict(const c10::IValue& state) {
  MMHOOK_CHECK_CODE(state.isGenericDict(), Code::kCheckpoint,
                    "optimizer state_dict must be a dict");
  auto d = state.toGenericDict();
  auto it = d.find(c10::IValue(std::string("loss_scaler")));
  if (it != d.end()) scaler_.load_state_dict(it->value());
  OptimWrapper::load_state_dict(state);
}

}  // namespace mmhook
