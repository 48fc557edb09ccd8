#include "optim/optimizer_options.h"

#include <torch/torch.h>

#include "mmhook/core/error.h"

namespace mmhook {
namespace detail {
namespace {

using torch::optim::AdagradOptions;
using torch::optim::AdagradParamState;
using torch::optim::AdamOptions;
using torch::optim::AdamParamState;
using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;
using torch::optim::RMSpropOptions;
using torch::optim::RMSpropParamState;
using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

template <class T, class B>
T& as(B& base, const std::string& type) {
  auto* p = dynamic_cast<T*>(&base);
  MMHOOK_CHECK_CODE(p != nullptr, Code::kInternal, "optimizer options do not match type '", type,
                    "'");
  return *p;
}

double to_double(const c10::IValue& v, const std::string& key) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  if (v.isTensor()) return v.toTensor().item<double>();
  MMHOOK_THROW(Code::kCheckpoint, "optimizer state: '", key, "' is not a number");
}

bool to_bool(const c10::IValue& v, const std::string& key) {
  if (v.isBool()) return v.toBool();
  return to_double(v, key) != 0.0;
}

int64_t to_step(const c10::IValue& v) {
  return static_cast<int64_t>(std::llround(to_double(v, "step")));
}

// PyTorch (>= 1.12) keeps Adam/RMSprop/Adagrad steps as float32 scalar tensors.
c10::IValue step_value(int64_t step) {
  return c10::IValue(torch::tensor(static_cast<float>(step)));
}

std::optional<c10::IValue> find(const c10::impl::GenericDict& d, const std::string& key) {
  auto it = d.find(c10::IValue(key));
  if (it == d.end()) return std::nullopt;
  return it->value();
}

std::pair<double, double> betas_of(const c10::IValue& v) {
  if (v.isTuple()) {
    const auto& e = v.toTupleRef().elements();
    MMHOOK_CHECK_CODE(e.size() == 2, Code::kCheckpoint,
                      "optimizer state: betas must have 2 entries");
    return {to_double(e[0], "betas"), to_double(e[1], "betas")};
  }
  if (v.isList()) {
    auto l = v.toList();
    MMHOOK_CHECK_CODE(l.size() == 2, Code::kCheckpoint,
                      "optimizer state: betas must have 2 entries");
    return {to_double(l.get(0), "betas"), to_double(l.get(1), "betas")};
  }
  MMHOOK_THROW(Code::kCheckpoint, "optimizer state: betas must be a pair");
}

template <class Opt>
std::optional<double> get_adam_like(const Opt& o, const std::string& name) {
  if (name == "lr") return o.lr();
  if (name == "momentum" || name == "betas0") return std::get<0>(o.betas());
  if (name == "betas1") return std::get<1>(o.betas());
  if (name == "eps") return o.eps();
  if (name == "weight_decay") return o.weight_decay();
  return std::nullopt;
}

template <class Opt>
bool set_adam_like(Opt& o, const std::string& name, double v) {
  if (name == "lr")
    o.lr(v);
  else if (name == "momentum" || name == "betas0")
    o.betas(std::make_tuple(v, std::get<1>(o.betas())));
  else if (name == "betas1")
    o.betas(std::make_tuple(std::get<0>(o.betas()), v));
  else if (name == "eps")
    o.eps(v);
  else if (name == "weight_decay")
    o.weight_decay(v);
  else
    return false;
  return true;
}

template <class Opt>
void adam_like_to_dict(const Opt& o, c10::impl::GenericDict& d) {
  d.insert("lr", o.lr());
  d.insert("betas", c10::ivalue::Tuple::create({std::get<0>(o.betas()), std::get<1>(o.betas())}));
  d.insert("eps", o.eps());
  d.insert("weight_decay", o.weight_decay());
  d.insert("amsgrad", o.amsgrad());
}

template <class Opt>
void adam_like_from_dict(Opt& o, const c10::impl::GenericDict& d, std::vector<std::string>& used) {
  if (auto v = find(d, "lr")) {
    o.lr(to_double(*v, "lr"));
    used.push_back("lr");
  }
  if (auto v = find(d, "betas")) {
    auto b = betas_of(*v);
    o.betas(std::make_tuple(b.first, b.second));
    used.push_back("betas");
  }
  if (auto v = find(d, "eps")) {
    o.eps(to_double(*v, "eps"));
    used.push_back("eps");
  }
  if (auto v = find(d, "weight_decay")) {
    o.weight_decay(to_double(*v, "weight_decay"));
    used.push_back("weight_decay");
  }
  if (auto v = find(d, "amsgrad")) {
    o.amsgrad(to_bool(*v, "amsgrad"));
    used.push_back("amsgrad");
  }
}

template <class St>
c10::impl::GenericDict adam_state_to_dict(const St& s) {
  auto d = new_str_dict();
  d.insert("step", step_value(s.step()));
  if (s.exp_avg().defined()) d.insert("exp_avg", s.exp_avg());
  if (s.exp_avg_sq().defined()) d.insert("exp_avg_sq", s.exp_avg_sq());
  if (s.max_exp_avg_sq().defined()) d.insert("max_exp_avg_sq", s.max_exp_avg_sq());
  return d;
}

template <class St>
std::unique_ptr<St> adam_state_from_dict(const c10::impl::GenericDict& d) {
  auto s = std::make_unique<St>();
  if (auto v = find(d, "step")) s->step(to_step(*v));
  if (auto v = find(d, "exp_avg")) s->exp_avg(v->toTensor());
  if (auto v = find(d, "exp_avg_sq")) s->exp_avg_sq(v->toTensor());
  if (auto v = find(d, "max_exp_avg_sq")) s->max_exp_avg_sq(v->toTensor());
  return s;
}

}  // namespace

c10::impl::GenericDict new_str_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

std::string state_key(const at::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}

void check_optimizer_type(const std::string& type) {
  MMHOOK_CHECK(
      type == "SGD" || type == "Adam" || type == "AdamW" || type == "RMSprop" || type == "Adagrad",
      "unsupported optimizer type '", type, "' (expected SGD, Adam, AdamW, RMSprop or Adagrad)");
}

std::optional<double> get_option(const std::string& type,
                                 const torch::optim::OptimizerOptions& options,
                                 const std::string& name) {
  if (type == "SGD") {
    const auto& o = as<const SGDOptions>(options, type);
    if (name == "lr") return o.lr();
    if (name == "momentum") return o.momentum();
    if (name == "dampening") return o.dampening();
    if (name == "weight_decay") return o.weight_decay();
    return std::nullopt;
  }
  if (type == "Adam") return get_adam_like(as<const AdamOptions>(options, type), name);
  if (type == "AdamW") return get_adam_like(as<const AdamWOptions>(options, type), name);
  if (type == "RMSprop") {
    const auto& o = as<const RMSpropOptions>(options, type);
    if (name == "lr") return o.lr();
    if (name == "alpha") return o.alpha();
    if (name == "eps") return o.eps();
    if (name == "weight_decay") return o.weight_decay();
    if (name == "momentum") return o.momentum();
    return std::nullopt;
  }
  if (type == "Adagrad") {
    const auto& o = as<const AdagradOptions>(options, type);
    if (name == "lr") return o.lr();
    if (name == "lr_decay") return o.lr_decay();
    if (name == "weight_decay") return o.weight_decay();
    if (name == "initial_accumulator_value") return o.initial_accumulator_value();
    if (name == "eps") return o.eps();
    return std::nullopt;
  }
  check_optimizer_type(type);
  return std::nullopt;
}

bool set_option(const std::string& type, torch::optim::OptimizerOptions& options,
                const std::string& name, double v) {
  if (type == "SGD") {
    auto& o = as<SGDOptions>(options, type);
    if (name == "lr")
      o.lr(v);
    else if (name == "momentum")
      o.momentum(v);
    else if (name == "dampening")
      o.dampening(v);
    else if (name == "weight_decay")
      o.weight_decay(v);
    else
      return false;
    return true;
  }
  if (type == "Adam") return set_adam_like(as<AdamOptions>(options, type), name, v);
  if (type == "AdamW") return set_adam_like(as<AdamWOptions>(options, type), name, v);
  if (type == "RMSprop") {
    auto& o = as<RMSpropOptions>(options, type);
    if (name == "lr")
      o.lr(v);
    else if (name == "alpha")
      o.alpha(v);
    else if (name == "eps")
      o.eps(v);
    else if (name == "weight_decay")
      o.weight_decay(v);
    else if (name == "momentum")
      o.momentum(v);
    else
      return false;
    return true;
  }
  if (type == "Adagrad") {
    auto& o = as<AdagradOptions>(options, type);
    if (name == "lr")
      o.lr(v);
    else if (name == "lr_decay")
      o.lr_decay(v);
    else if (name == "weight_decay")
      o.weight_decay(v);
    else if (name == "initial_accumulator_value")
      o.initial_accumulator_value(v);
    else if (name == "eps")
      o.eps(v);
    else
      return false;
    return true;
  }
  check_optimizer_type(type);
  return false;
}

c10::impl::GenericDict options_to_dict(const std::string& type,
                                       const torch::optim::OptimizerOptions& options) {
  auto d = new_str_dict();
  if (type == "SGD") {
    const auto& o = as<const SGDOptions>(options, type);
    d.insert("lr", o.lr());
    d.insert("momentum", o.momentum());
    d.insert("dampening", o.dampening());
    d.insert("weight_decay", o.weight_decay());
    d.insert("nesterov", o.nesterov());
  } else if (type == "Adam") {
    adam_like_to_dict(as<const AdamOptions>(options, type), d);
  } else if (type == "AdamW") {
    adam_like_to_dict(as<const AdamWOptions>(options, type), d);
  } else if (type == "RMSprop") {
    const auto& o = as<const RMSpropOptions>(options, type);
    d.insert("lr", o.lr());
    d.insert("alpha", o.alpha());
    d.insert("eps", o.eps());
    d.insert("weight_decay", o.weight_decay());
    d.insert("momentum", o.momentum());
    d.insert("centered", o.centered());
  } else if (type == "Adagrad") {
    const auto& o = as<const AdagradOptions>(options, type);
    d.insert("lr", o.lr());
    d.insert("lr_decay", o.lr_decay());
    d.insert("weight_decay", o.weight_decay());
    d.insert("initial_accumulator_value", o.initial_accumulator_value());
    d.insert("eps", o.eps());
  } else {
    check_optimizer_type(type);
  }
  return d;
}

std::vector<std::string> options_from_dict(const std::string& type,
                                           torch::optim::OptimizerOptions& options,
                                           const c10::impl::GenericDict& d) {
  std::vector<std::string> used;
  auto num = [&](const char* key, auto setter) {
    if (auto v = find(d, key)) {
      setter(to_double(*v, key));
      used.emplace_back(key);
    }
  };
  auto flag = [&](const char* key, auto setter) {
    if (auto v = find(d, key)) {
      setter(to_bool(*v, key));
      used.emplace_back(key);
    }
  };
  if (type == "SGD") {
    auto& o = as<SGDOptions>(options, type);
    num("lr", [&](double x) { o.lr(x); });
    num("momentum", [&](double x) { o.momentum(x); });
    num("dampening", [&](double x) { o.dampening(x); });
    num("weight_decay", [&](double x) { o.weight_decay(x); });
    flag("nesterov", [&](bool x) { o.nesterov(x); });
  } else if (type == "Adam") {
    adam_like_from_dict(as<AdamOptions>(options, type), d, used);
  } else if (type == "AdamW") {
    adam_like_from_dict(as<AdamWOptions>(options, type), d, used);
  } else if (type == "RMSprop") {
    auto& o = as<RMSpropOptions>(options, type);
    num("lr", [&](double x) { o.lr(x); });
    num("alpha", [&](double x) { o.alpha(x); });
    num("eps", [&](double x) { o.eps(x); });
    num("weight_decay", [&](double x) { o.weight_decay(x); });
    num("momentum", [&](double x) { o.momentum(x); });
    flag("centered", [&](bool x) { o.centered(x); });
  } else if (type == "Adagrad") {
    auto& o = as<AdagradOptions>(options, type);
    num("lr", [&](double x) { o.lr(x); });
    num("lr_decay", [&](double x) { o.lr_decay(x); });
    num("weight_decay", [&](double x) { o.weight_decay(x); });
    num("initial_accumulator_value", [&](double x) { o.initial_accumulator_value(x); });
    num("eps", [&](double x) { o.eps(x); });
  } else {
    check_optimizer_type(type);
  }
  return used;
}

c10::impl::GenericDict state_to_dict(const std::string& type,
                                     const torch::optim::OptimizerParamState& state) {
  if (type == "SGD") {
    const auto& s = as<const SGDParamState>(state, type);
    auto d = new_str_dict();
    // PyTorch stores momentum_buffer=None until the first momentum step.
    if (s.momentum_buffer().defined())
      d.insert("momentum_buffer", s.momentum_buffer());
    else
      d.insert("momentum_buffer", c10::IValue());
    return d;
  }
  if (type == "Adam") return adam_state_to_dict(as<const AdamParamState>(state, type));
  if (type == "AdamW") return adam_state_to_dict(as<const AdamWParamState>(state, type));
  if (type == "RMSprop") {
    const auto& s = as<const RMSpropParamState>(state, type);
    auto d = new_str_dict();
    d.insert("step", step_value(s.step()));
    if (s.square_avg().defined()) d.insert("square_avg", s.square_avg());
    if (s.momentum_buffer().defined()) d.insert("momentum_buffer", s.momentum_buffer());
    if (s.grad_avg().defined()) d.insert("grad_avg", s.grad_avg());
    return d;
  }
  if (type == "Adagrad") {
    const auto& s = as<const AdagradParamState>(state, type);
    auto d = new_str_dict();
    d.insert("step", step_value(s.step()));
    if (s.sum().defined()) d.insert("sum", s.sum());
    return d;
  }
  check_optimizer_type(type);
  return new_str_dict();
}

std::unique_ptr<torch::optim::OptimizerParamState> state_from_dict(
    const std::string& type, const c10::impl::GenericDict& d) {
  auto tensor = [&](const char* key) -> at::Tensor {
    auto v = find(d, key);
    if (!v || v->isNone()) return at::Tensor();
    MMHOOK_CHECK_CODE(v->isTensor(), Code::kCheckpoint, "optimizer state: '", key,
                      "' is not a tensor");
    return v->toTensor();
  };
  if (type == "SGD") {
    // LibTorch creates SGD state only together with its momentum buffer.
    at::Tensor buf = tensor("momentum_buffer");
    if (!buf.defined()) return nullptr;
    auto s = std::make_unique<SGDParamState>();
    s->momentum_buffer(buf);
    return s;
  }
  if (type == "Adam") return adam_state_from_dict<AdamParamState>(d);
  if (type == "AdamW") return adam_state_from_dict<AdamWParamState>(d);
  if (type == "RMSprop") {
    auto s = std::make_unique<RMSpropParamState>();
    if (auto v = find(d, "step")) s->step(to_step(*v));
    s->square_avg(tensor("square_avg"));
    s->momentum_buffer(tensor("momentum_buffer"));
    s->grad_avg(tensor("grad_avg"));
    return s;
  }
  if (type == "Adagrad") {
    auto s = std::make_unique<AdagradParamState>();
    if (auto v = find(d, "step")) s->step(to_step(*v));
    s->sum(tensor("sum"));
    return s;
  }
  check_optimizer_type(type);
  return nullptr;
}

}  // namespace detail
}  // namespace mmhook
