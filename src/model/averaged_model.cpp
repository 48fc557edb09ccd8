#include "mmhook/model/averaged_model.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <spdlog/spdlog.h>

#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

constexpr const char* kModulePrefix = "module.";
constexpr const char* kStepsKey = "steps";

}  // namespace

AveragedModel::AveragedModel(const torch::nn::Module& source, int64_t interval, bool update_buffers,
                             const std::optional<c10::Device>& device)
    : interval_(interval), update_buffers_(update_buffers) {
  MMHOOK_CHECK(interval >= 1, "AveragedModel.interval must be >= 1, got ", interval);
  std::vector<AveragedTensor> live;
  for (auto& e : state_dict_entries(source)) live.push_back({e.name, e.value, e.is_parameter});
  at::NoGradGuard no_grad;
  tensors_.reserve(live.size());
  for (auto& t : live) {
    at::Tensor copy = device ? t.value.detach().to(*device, /*non_blocking=*/false, /*copy=*/true)
                             : t.value.detach().clone();
    copy.set_requires_grad(false);
    tensors_.push_back({t.name, copy, t.is_param});
  }
  steps_ = torch::zeros({}, torch::kLong);
}

int64_t AveragedModel::steps() const { return steps_.item<int64_t>(); }

at::Tensor AveragedModel::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t.value;
  MMHOOK_THROW(Code::kNotFound, type_name(), " has no tensor '", name, "'");
}

std::vector<at::Tensor> AveragedModel::matching_sources(const torch::nn::Module& source,
                                                        const char* what) const {
  std::unordered_map<std::string, at::Tensor> by_name;
  for (auto& e : state_dict_entries(source)) by_name.emplace(e.name, e.value);
  std::vector<at::Tensor> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) {
    auto it = by_name.find(t.name);
    MMHOOK_CHECK(it != by_name.end(), type_name(), ".", what, ": the source model has no '", t.name,
                 "'");
    MMHOOK_CHECK(it->second.sizes() == t.value.sizes(), type_name(), ".", what, ": '", t.name,
                 "' has shape ", c10::str(it->second.sizes()), " in the source, ",
                 c10::str(t.value.sizes()), " in the average");
    out.push_back(it->second);
  }
  return out;
}

void AveragedModel::update_parameters(const torch::nn::Module& source) {
  const std::vector<at::Tensor> src = matching_sources(source, "update_parameters");
  at::NoGradGuard no_grad;
  const int64_t steps = this->steps();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    AveragedTensor& t = tensors_[i];
    const at::Tensor s = src[i].detach().to(t.value.device());
    if (!t.is_param && !update_buffers_) {
      t.value.copy_(s);  // buffers follow the source when they are not averaged
    } else if (steps == 0) {
      t.value.copy_(s);
    } else if (steps % interval_ == 0 && t.value.is_floating_point()) {
      avg_func(t.value, s, steps);
    }
  }
  steps_.add_(1);
}

void AveragedModel::copy_from(const torch::nn::Module& source) {
  const std::vector<at::Tensor> src = matching_sources(source, "copy_from");
  at::NoGradGuard no_grad;
  // copy_ crosses devices.
  for (size_t i = 0; i < tensors_.size(); ++i) tensors_[i].value.copy_(src[i].detach());
}

c10::impl::GenericDict AveragedModel::state_dict() const {
  auto dict = make_generic_dict();
  dict.insert(c10::IValue(std::string(kStepsKey)), c10::IValue(steps_.clone()));
  for (const auto& t : tensors_)
    dict.insert(c10::IValue(kModulePrefix + t.name),
                c10::IValue(t.value.detach().to(at::kCPU).clone()));
  return dict;
}

LoadReport AveragedModel::load_state_dict(const c10::impl::GenericDict& state, bool strict) {
  return load_named(state, strict, /*prefixed=*/true);
}

LoadReport AveragedModel::load_module_state_dict(const c10::impl::GenericDict& state, bool strict) {
  return load_named(state, strict, /*prefixed=*/false);
}

LoadReport AveragedModel::load_named(const c10::impl::GenericDict& state, bool strict,
                                     bool prefixed) {
  // Targets by the key they have in `state`.
  std::vector<std::pair<std::string, at::Tensor>> targets;
  if (prefixed) targets.emplace_back(kStepsKey, steps_);
  for (const auto& t : tensors_)
    targets.emplace_back(prefixed ? kModulePrefix + t.name : t.name, t.value);

  std::unordered_map<std::string, c10::IValue> values;
  std::vector<std::string> state_keys;
  for (const auto& entry : state) {
    MMHOOK_CHECK_CODE(entry.key().isString(), Code::kCheckpoint, type_name(),
                      ": state dict keys must be strings, found a '", entry.key().tagKind(), "'");
    state_keys.push_back(entry.key().toStringRef());
    values[state_keys.back()] = entry.value();
  }
  LoadReport report;
  std::unordered_set<std::string> known;
  for (const auto& [key, target] : targets) {
    known.insert(key);
    if (!values.count(key)) report.missing_keys.push_back(key);
  }
  for (const auto& key : state_keys)
    if (!known.count(key)) report.unexpected_keys.push_back(key);
  if (strict && (!report.missing_keys.empty() || !report.unexpected_keys.empty())) {
    MMHOOK_THROW(
        Code::kCheckpoint,
        describe_key_mismatch(type_name() + ": error(s) in loading state_dict (strict):", report));
  }
  // Validate everything before copying, so an error leaves the average untouched.
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& [key, target] : targets) {
    auto it = values.find(key);
    if (it == values.end()) continue;
    MMHOOK_CHECK_CODE(it->second.isTensor(), Code::kCheckpoint, type_name(), ": state dict entry '",
                      key, "' is a '", it->second.tagKind(), "', expected a tensor");
    const at::Tensor& source = it->second.toTensor();
    MMHOOK_CHECK_CODE(source.defined() && source.sizes() == target.sizes(), Code::kCheckpoint,
                      type_name(), ": size mismatch for ", key, ": the checkpoint has shape ",
                      source.defined() ? c10::str(source.sizes()) : std::string("undefined"),
                      ", the average has shape ", c10::str(target.sizes()));
    copies.emplace_back(target, source);
  }
  at::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
  return report;
}

void AveragedModel::swap_with(torch::nn::Module& source) {
  std::vector<at::Tensor> src = matching_sources(source, "swap_with");
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    AveragedTensor& t = tensors_[i];
    if (!t.is_param && !update_buffers_) continue;
    at::Tensor tmp = t.value.clone();
    t.value.copy_(src[i]);
    src[i].copy_(tmp);
  }
}

// -- ExponentialMovingAverage ------------------------------------------------------------------

ExponentialMovingAverage::ExponentialMovingAverage(const torch::nn::Module& source, double momentum,
                                                   int64_t interval, bool update_buffers,
                                                   const std::optional<c10::Device>& device)
    : AveragedModel(source, interval, update_buffers, device), momentum_(momentum) {
  MMHOOK_CHECK(momentum > 0.0 && momentum < 1.0,
               "ExponentialMovingAverage.momentum must be in range (0.0, 1.0), got ", momentum);
  if (momentum > 0.5)
    spdlog::warn(
        "The value of momentum in EMA is usually a small number, which is different from the "
        "conventional notion of momentum but similar to (1 - momentum). Please make sure the "
        "value is correct (got {}).",
        momentum);
}

void ExponentialMovingAverage::avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t) {
  averaged.lerp_(source, momentum_);
}

// -- MomentumAnnealingEMA ----------------------------------------------------------------------

MomentumAnnealingEMA::MomentumAnnealingEMA(const torch::nn::Module& source, double momentum,
                                           double gamma, int64_t interval, bool update_buffers,
                                           const std::optional<c10::Device>& device)
    : ExponentialMovingAverage(source, momentum, interval, update_buffers, device), gamma_(gamma) {
  MMHOOK_CHECK(gamma > 0.0, "MomentumAnnealingEMA.gamma must be greater than 0, got ", gamma);
}

void MomentumAnnealingEMA::avg_func(at::Tensor& averaged, const at::Tensor& source, int64_t steps) {
  const double m = std::max(momentum(), gamma_ / (gamma_ + static_cast<double>(steps)));
  averaged.lerp_(source, m);
}

// -- StochasticWeightAverage -------------------------------------------------------------------

StochasticWeightAverage::StochasticWeightAverage(const torch::nn::Module& source, int64_t interval,
                                                 bool update_buffers,
                                                 const std::optional<c10::Device>& device)
    : AveragedModel(source, interval, update_buffers, device) {}

void StochasticWeightAverage::avg_func(at::Tensor& averaged, const at::Tensor& source,
                                       int64_t steps) {
  // MMEngine: 1 / float(steps // interval + 1): the floor division is intended.
  const int64_t averaged_intervals = steps / interval();
  const double weight = 1.0 / static_cast<double>(averaged_intervals + 1);
  averaged.add_(source - averaged, weight);
}

// -- factory -----------------------------------------------------------------------------------

std::vector<std::string> averaged_model_types() {
  return {"ExponentialMovingAverage", "MomentumAnnealingEMA", "StochasticWeightAverage"};
}

std::unique_ptr<AveragedModel> build_averaged_model(const std::string& type,
                                                    const torch::nn::Module& source,
                                                    const AveragedModelOptions& o) {
  constexpr double kDefaultMomentum = 0.0002;
  constexpr double kDefaultGamma = 100;
  std::optional<c10::Device> device;
  if (o.device) {
    try {
      device = c10::Device(*o.device);
    } catch (const std::exception&) {
      MMHOOK_THROW(Code::kInvalidArgument, "invalid device '", *o.device,
                   "' for the averaged model (expected e.g. 'cpu' or 'cuda:0')");
    }
  }
  if (type == "ExponentialMovingAverage") {
    MMHOOK_CHECK(!o.gamma, "ExponentialMovingAverage does not take 'gamma' (got ", *o.gamma,
                 "); use MomentumAnnealingEMA");
    return std::make_unique<ExponentialMovingAverage>(source, o.momentum.value_or(kDefaultMomentum),
                                                      o.interval, o.update_buffers, device);
  }
  if (type == "MomentumAnnealingEMA") {
    return std::make_unique<MomentumAnnealingEMA>(source, o.momentum.value_or(kDefaultMomentum),
                                                  o.gamma.value_or(kDefaultGamma), o.interval,
                                                  o.update_buffers, device);
  }
  if (type == "StochasticWeightAverage") {
    MMHOOK_CHECK(!o.momentum, "StochasticWeightAverage does not take 'momentum' (got ", *o.momentum,
                 ")");
    MMHOOK_CHECK(!o.gamma, "StochasticWeightAverage does not take 'gamma' (got ", *o.gamma, ")");
    return std::make_unique<StochasticWeightAverage>(source, o.interval, o.update_buffers, device);
  }
  MMHOOK_THROW(Code::kInvalidArgument, "unknown averaged model type '", type,
               "' (expected ExponentialMovingAverage, MomentumAnnealingEMA or "
               "StochasticWeightAverage)");
}

}  // namespace mmhook
