#include "mmhook/optim/optim_wrapper.h"

#include <torch/nn/module.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/types.h>
#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"
#include "optim/loss_check.h"
#include "optim/optimizer_types.h"

namespace mmhook {

namespace {

bool is_numeric(const c10::IValue& v) { return v.isDouble() || v.isInt(); }

double numeric(const c10::IValue& v) {
  return v.isDouble() ? v.toDouble() : static_cast<double>(v.toInt());
}

c10::impl::GenericDict to_dict(const c10::IValue& v, const char* what) {
  MMHOOK_CHECK_CODE(v.isGenericDict(), Code::kCheckpoint, what, " must be a dict, got ",
                    v.tagKind());
  return v.toGenericDict();
}

c10::IValue dict_get(const c10::impl::GenericDict& d, const std::string& key, const char* what) {
  auto it = d.find(c10::IValue(key));
  MMHOOK_CHECK_CODE(it != d.end(), Code::kCheckpoint, what, " lacks key '", key, "'");
  return it->value();
}

bool model_has_batch_norm(const torch::nn::Module& model) {
  if (model.name().find("BatchNorm") != std::string::npos) return true;
  for (const auto& m : model.modules(/*include_self=*/false))
    if (m->name().find("BatchNorm") != std::string::npos) return true;
  return false;
}

}  // namespace

OptimWrapper::OptimWrapper() = default;

OptimWrapper::OptimWrapper(std::shared_ptr<torch::optim::Optimizer> optimizer,
                           std::string optimizer_type, int64_t accumulative_counts,
                           std::optional<ClipGradOptions> clip_grad)
    : accumulative_counts_(accumulative_counts),
      optimizer_(std::move(optimizer)),
      optimizer_type_(std::move(optimizer_type)),
      clip_grad_(std::move(clip_grad)) {
  MMHOOK_CHECK(optimizer_ != nullptr, "OptimWrapper: optimizer must not be null");
  (void)detail::optimizer_type(optimizer_type_);  // a known type, or an error naming it
  MMHOOK_CHECK(accumulative_counts_ >= 1, "OptimWrapper.accumulative_counts must be >= 1, got ",
               accumulative_counts_);
  if (clip_grad_) {
    MMHOOK_CHECK(clip_grad_->type == "norm" || clip_grad_->type == "value",
                 "OptimWrapper.clip_grad.type must be 'norm' or 'value', got '", clip_grad_->type,
                 "'");
  }
  if (optimizer_->param_groups().size() > 1) base_options_ = optimizer_->defaults().clone();
  extras_.resize(num_param_groups());
}

OptimWrapper::~OptimWrapper() = default;

torch::optim::Optimizer& OptimWrapper::optimizer() {
  MMHOOK_CHECK_CODE(optimizer_ != nullptr, Code::kFailedPrecondition,
                    "this wrapper has no optimizer");
  return *optimizer_;
}

const torch::optim::Optimizer& OptimWrapper::optimizer() const {
  MMHOOK_CHECK_CODE(optimizer_ != nullptr, Code::kFailedPrecondition,
                    "this wrapper has no optimizer");
  return *optimizer_;
}

void OptimWrapper::update_params(const at::Tensor& loss) {
  at::Tensor scaled = scale_loss(loss);
  backward(scaled);
  if (should_update()) {
    step();
    zero_grad();
  }
}

at::Tensor OptimWrapper::scale_loss(const at::Tensor& loss) const {
  int64_t factor;
  if (accumulative_counts_ == 1) {
    factor = 1;
  } else if (max_counts_ == -1) {
    factor = accumulative_counts_;
  } else if (inner_count_ < max_counts_ - remainder_counts_) {
    factor = accumulative_counts_;
  } else {
    factor = remainder_counts_;
    MMHOOK_CHECK_CODE(factor > 0, Code::kFailedPrecondition,
                      "OptimWrapper.scale_loss: remainder_counts must be > 0 at inner_count ",
                      inner_count_, " (max_counts ", max_counts_, ")");
  }
  // Dividing by 1 is exact: skip the op (and its backward node) when nothing accumulates.
  return factor == 1 ? loss : loss / static_cast<double>(factor);
}

void OptimWrapper::backward(const at::Tensor& loss) {
  check_loss_for_backward(loss);
  const bool sync = should_sync();
  begin_grad_sync(sync);
  loss.backward();
  ++inner_count_;
  end_grad_sync(sync);
}

void OptimWrapper::set_grad_sync(std::function<void()> sync) {
  GradSyncCallbacks callbacks;
  if (sync)
    callbacks.after_backward = [fn = std::move(sync)](bool should) {
      if (should) fn();
    };
  grad_sync_ = std::move(callbacks);
}

void OptimWrapper::step() {
  if (clip_grad_) clip_grads();
  optimizer().step();
}

void OptimWrapper::zero_grad() { optimizer().zero_grad(); }

bool OptimWrapper::should_update() const {
  return inner_count_ % accumulative_counts_ == 0 || inner_count_ == max_counts_;
}

bool OptimWrapper::should_sync() const {
  return (inner_count_ + 1) % accumulative_counts_ == 0 || (inner_count_ + 1) == max_counts_;
}

void OptimWrapper::initialize_count_status(const torch::nn::Module& model, int64_t init_counts,
                                           int64_t max_counts) {
  inner_count_ = init_counts;
  max_counts_ = max_counts;
  if (inner_count_ % accumulative_counts_ != 0) {
    spdlog::warn(
        "Resumed iteration number is not divisible by accumulative_counts in "
        "`GradientCumulativeOptimizerHook`, which means the gradient of some iterations is lost "
        "and the result may be influenced slightly.");
  }
  if (model_has_batch_norm(model) && accumulative_counts_ > 1) {
    spdlog::warn(
        "Gradient accumulative may slightly decrease performance because the model has "
        "BatchNorm layers.");
  }
  remainder_counts_ = max_counts_ % accumulative_counts_;
}

std::unique_ptr<OptimContext> OptimWrapper::optim_context(torch::nn::Module& /*model*/) {
  // No DDP here: the plain context changes nothing.
  return std::make_unique<OptimContext>();
}

void OptimWrapper::clip_grads() {
  std::vector<at::Tensor> params;
  for (const auto& group : optimizer().param_groups())
    for (const auto& p : group.params())
      if (p.requires_grad() && p.grad().defined()) params.push_back(p);
  if (params.empty()) return;
  if (clip_grad_->type == "norm") {
    double norm =
        torch::nn::utils::clip_grad_norm_(params, clip_grad_->max_norm, clip_grad_->norm_type);
    report_scalar("train/grad_norm", norm);
  } else {
    torch::nn::utils::clip_grad_value_(params, clip_grad_->clip_value);
  }
}

void OptimWrapper::report_scalar(const std::string& key, double value) const {
  if (scalar_sink_) scalar_sink_(key, value);
}

// ------------------------------------------------------------------------------ groups

size_t OptimWrapper::num_param_groups() const {
  if (optimizer_ == nullptr) return 0;
  return optimizer_->param_groups().size() + (base_options_ ? 1 : 0);
}

void OptimWrapper::check_group(size_t group) const {
  MMHOOK_CHECK_CODE(group < num_param_groups(), Code::kNotFound, "param group ", group,
                    " does not exist (", num_param_groups(), " groups)");
}

torch::optim::OptimizerOptions& OptimWrapper::options_of(size_t group) {
  check_group(group);
  if (group < optimizer_->param_groups().size()) return optimizer_->param_groups()[group].options();
  return *base_options_;
}

const torch::optim::OptimizerOptions& OptimWrapper::options_of(size_t group) const {
  check_group(group);
  if (group < optimizer_->param_groups().size()) return optimizer_->param_groups()[group].options();
  return *base_options_;
}

bool OptimWrapper::has_group_value(size_t group, const std::string& name) const {
  if (group >= num_param_groups()) return false;
  if (detail::optimizer_type(optimizer_type_).get(options_of(group), name)) return true;
  return extras_[group].contains(name);
}

double OptimWrapper::get_group_value(size_t group, const std::string& name) const {
  check_group(group);
  if (auto v = detail::optimizer_type(optimizer_type_).get(options_of(group), name)) return *v;
  const double* extra = extras_[group].find(name);
  MMHOOK_CHECK_CODE(extra != nullptr, Code::kNotFound, "param group ", group, " of ",
                    optimizer_type_, " has no key '", name, "'");
  return *extra;
}

void OptimWrapper::set_group_value(size_t group, const std::string& name, double value) {
  check_group(group);
  if (detail::optimizer_type(optimizer_type_).set(options_of(group), name, value)) return;
  extras_[group].set(name, value);
}

OrderedMap<std::vector<double>> OptimWrapper::get_lr() const {
  OrderedMap<std::vector<double>> out;
  const size_t real = optimizer().param_groups().size();
  if (base_options_) out.set("base_lr", {get_group_value(real, "lr")});
  std::vector<double> lrs;
  for (size_t g = 0; g < real; ++g) lrs.push_back(get_group_value(g, "lr"));
  out.set("lr", lrs);
  return out;
}

void OptimWrapper::get_lr_into(OrderedMap<std::vector<double>>& out) const {
  const size_t real = optimizer().param_groups().size();
  const size_t keys = base_options_ ? 2 : 1;
  if (out.size() != keys || (out.end() - 1)->first != "lr" ||
      (base_options_ && out.begin()->first != "base_lr")) {
    out = get_lr();
    return;
  }
  auto it = out.begin();
  if (base_options_) {
    it->second.resize(1);
    it->second[0] = get_group_value(real, "lr");
    ++it;
  }
  it->second.resize(real);
  for (size_t g = 0; g < real; ++g) it->second[g] = get_group_value(g, "lr");
}

OrderedMap<std::vector<double>> OptimWrapper::get_momentum() const {
  OrderedMap<std::vector<double>> out;
  std::vector<double> m;
  for (size_t g = 0; g < optimizer().param_groups().size(); ++g)
    m.push_back(has_group_value(g, "momentum") ? get_group_value(g, "momentum") : 0.0);
  out.set("momentum", m);
  return out;
}

// ------------------------------------------------------------------------------ state dict

c10::impl::GenericDict OptimWrapper::optimizer_state_dict() const {
  const auto& opt = optimizer();
  const detail::OptimizerType& type = detail::optimizer_type(optimizer_type_);
  auto state = c10::impl::GenericDict(c10::IntType::get(), c10::AnyType::get());
  auto groups = c10::impl::GenericList(c10::AnyType::get());
  int64_t index = 0;
  for (size_t g = 0; g < opt.param_groups().size(); ++g) {
    const auto& group = opt.param_groups()[g];
    auto gd = type.options_to_dict(group.options());
    for (const auto& kv : extras_[g]) gd.insert_or_assign(kv.first, kv.second);
    c10::List<int64_t> ids;
    for (const auto& p : group.params()) {
      auto it = opt.state().find(detail::state_key(p));
      if (it != opt.state().end()) {
        auto sd = type.state_to_dict(*it->second);
        // A snapshot: later steps update the live buffers in place.
        for (auto& e : sd)
          if (e.value().isTensor()) sd.insert_or_assign(e.key(), e.value().toTensor().clone());
        state.insert(index, sd);
      }
      ids.push_back(index++);
    }
    gd.insert_or_assign("params", ids);
    groups.push_back(gd);
  }
  auto out = detail::new_str_dict();
  out.insert("state", state);
  out.insert("param_groups", groups);
  return out;
}

c10::IValue OptimWrapper::state_dict() const {
  auto out = optimizer_state_dict();
  if (base_options_) {
    const size_t base = optimizer().param_groups().size();
    auto bd = detail::new_str_dict();
    bd.insert("params", torch::tensor({0.0f}));
    auto od = detail::optimizer_type(optimizer_type_).options_to_dict(*base_options_);
    for (auto& e : od) bd.insert_or_assign(e.key(), e.value());
    for (const auto& kv : extras_[base]) bd.insert_or_assign(kv.first, kv.second);
    out.insert("base_param_settings", bd);
  }
  return out;
}

void OptimWrapper::load_state_dict(const c10::IValue& state) {
  load_optimizer_state_dict(to_dict(state, "optimizer state_dict"));
}

void OptimWrapper::load_optimizer_state_dict(const c10::impl::GenericDict& sd) {
  auto& opt = optimizer();
  const detail::OptimizerType& type = detail::optimizer_type(optimizer_type_);
  auto groups = dict_get(sd, "param_groups", "optimizer state_dict");
  MMHOOK_CHECK_CODE(groups.isList(), Code::kCheckpoint,
                    "optimizer state_dict: param_groups must be a list");
  auto glist = groups.toList();
  MMHOOK_CHECK_CODE(glist.size() == opt.param_groups().size(), Code::kCheckpoint,
                    "loaded state dict has a different number of parameter groups (", glist.size(),
                    " vs ", opt.param_groups().size(), ")");
  std::map<int64_t, at::Tensor> by_index;
  for (size_t g = 0; g < glist.size(); ++g) {
    auto gd = to_dict(glist.get(g), "optimizer param group");
    auto ids = dict_get(gd, "params", "optimizer param group");
    MMHOOK_CHECK_CODE(ids.isList(), Code::kCheckpoint, "optimizer param group ", g,
                      ": params must be a list");
    auto idl = ids.toList();
    auto& group = opt.param_groups()[g];
    MMHOOK_CHECK_CODE(idl.size() == group.params().size(), Code::kCheckpoint,
                      "loaded state dict contains a parameter group that doesn't match the size of "
                      "optimizer's group (group ",
                      g, ": ", idl.size(), " vs ", group.params().size(), ")");
    for (size_t i = 0; i < idl.size(); ++i) by_index[idl.get(i).toInt()] = group.params()[i];
    auto used = type.options_from_dict(group.options(), gd);
    extras_[g].clear();
    for (const auto& e : gd) {
      const std::string key = e.key().toStringRef();
      if (key == "params" || std::find(used.begin(), used.end(), key) != used.end()) continue;
      if (is_numeric(e.value())) extras_[g].set(key, numeric(e.value()));
    }
  }
  auto st = to_dict(dict_get(sd, "state", "optimizer state_dict"), "optimizer state");
  opt.state().clear();
  for (const auto& e : st) {
    const int64_t idx = e.key().toInt();
    auto it = by_index.find(idx);
    MMHOOK_CHECK_CODE(it != by_index.end(), Code::kCheckpoint, "optimizer state: parameter index ",
                      idx, " is not in any param group");
    const at::Tensor& param = it->second;
    auto pd = to_dict(e.value(), "optimizer parameter state");
    auto copy = detail::new_str_dict();
    for (const auto& f : pd) {
      c10::IValue v = f.value();
      if (v.isTensor() && f.key().toStringRef() != "step") {
        at::Tensor t = v.toTensor();
        t = t.is_floating_point() ? t.to(param.device(), param.scalar_type())
                                  : t.to(param.device());
        v = t.clone();
      }
      copy.insert(f.key(), v);
    }
    auto ps = type.state_from_dict(copy);
    if (ps) opt.state()[detail::state_key(param)] = std::move(ps);
  }
  auto bit = sd.find(c10::IValue(std::string("base_param_settings")));
  if (bit != sd.end() && base_options_) {
    const size_t base = opt.param_groups().size();
    auto bd = to_dict(bit->value(), "base_param_settings");
    auto used = type.options_from_dict(*base_options_, bd);
    extras_[base].clear();
    for (const auto& e : bd) {
      const std::string key = e.key().toStringRef();
      if (key == "params" || std::find(used.begin(), used.end(), key) != used.end()) continue;
      if (is_numeric(e.value())) extras_[base].set(key, numeric(e.value()));
    }
  }
}

}  // namespace mmhook
