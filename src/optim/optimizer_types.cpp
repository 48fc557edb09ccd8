#include "optim/optimizer_types.h"

#include <cmath>
#include <tuple>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace detail {
namespace {

using c10::impl::GenericDict;
using Pair = std::tuple<double, double>;

// -- PyTorch's values in state dicts -----------------------------------------------------------

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

std::optional<c10::IValue> find(const GenericDict& d, const std::string& key) {
  auto it = d.find(c10::IValue(key));
  if (it == d.end()) return std::nullopt;
  return it->value();
}

Pair to_pair(const c10::IValue& v, const std::string& key) {
  std::vector<c10::IValue> e;
  if (v.isTuple()) {
    e = v.toTupleRef().elements().vec();
  } else if (v.isList()) {
    for (const c10::IValue& x : v.toList()) e.push_back(x);
  } else {
    MMHOOK_THROW(Code::kCheckpoint, "optimizer state: ", key, " must be a pair");
  }
  MMHOOK_CHECK_CODE(e.size() == 2, Code::kCheckpoint, "optimizer state: ", key,
                    " must have 2 entries");
  return {to_double(e[0], key), to_double(e[1], key)};
}

// -- visitors over an optimizer's table ---------------------------------------------------------
// A table lists its options as number(key, field, default), flag(key, field, default) and
// pair(key, field, default, alias of the first element), and its per-parameter state as
// step(field) and tensor(key, field, none_when_undefined), in PyTorch's key order.

const std::optional<double> kRequired = std::nullopt;

struct ParseOptions {
  const ConfigNode& cfg;
  void number(const char* key, double& field, std::optional<double> fallback) {
    field = fallback ? cfg.get<double>(key, *fallback) : cfg.require<double>(key);
  }
  void flag(const char* key, bool& field, bool fallback) { field = cfg.get<bool>(key, fallback); }
  void pair(const char* key, Pair& field, Pair fallback, const char* /*first_alias*/) {
    const auto v =
        cfg.get<std::vector<double>>(key, {std::get<0>(fallback), std::get<1>(fallback)});
    if (v.size() != 2) cfg.fail(key, "expected 2 numbers, got " + std::to_string(v.size()));
    field = {v[0], v[1]};
  }
};

// The numeric option `name`: a number's key, or a pair's key + "0"/"1" (or its first alias).
struct NumberRef {
  const std::string& name;
  double* found = nullptr;
  void number(const char* key, double& field, std::optional<double> /*fallback*/) {
    if (name == key) found = &field;
  }
  void flag(const char* /*key*/, bool& /*field*/, bool /*fallback*/) {}
  void pair(const char* key, Pair& field, Pair /*fallback*/, const char* first_alias) {
    const std::string k(key);
    if (name == k + "0" || (first_alias != nullptr && name == first_alias))
      found = &std::get<0>(field);
    if (name == k + "1") found = &std::get<1>(field);
  }
};

struct OptionsToDict {
  GenericDict& d;
  void number(const char* key, double& field, std::optional<double> /*fallback*/) {
    d.insert(key, field);
  }
  void flag(const char* key, bool& field, bool /*fallback*/) { d.insert(key, field); }
  void pair(const char* key, Pair& field, Pair /*fallback*/, const char* /*first_alias*/) {
    d.insert(key, c10::ivalue::Tuple::create({std::get<0>(field), std::get<1>(field)}));
  }
};

struct OptionsFromDict {
  const GenericDict& d;
  std::vector<std::string>& used;
  void number(const char* key, double& field, std::optional<double> /*fallback*/) {
    if (auto v = find(d, key)) {
      field = to_double(*v, key);
      used.emplace_back(key);
    }
  }
  void flag(const char* key, bool& field, bool /*fallback*/) {
    if (auto v = find(d, key)) {
      field = to_bool(*v, key);
      used.emplace_back(key);
    }
  }
  void pair(const char* key, Pair& field, Pair /*fallback*/, const char* /*first_alias*/) {
    if (auto v = find(d, key)) {
      field = to_pair(*v, key);
      used.emplace_back(key);
    }
  }
};

struct StateToDict {
  GenericDict& d;
  // PyTorch (>= 1.12) keeps Adam/RMSprop/Adagrad steps as float32 scalar tensors.
  void step(int64_t& field) { d.insert("step", torch::tensor(static_cast<float>(field))); }
  void tensor(const char* key, at::Tensor& field, bool none_when_undefined) {
    if (field.defined())
      d.insert(key, field);
    else if (none_when_undefined)
      d.insert(key, c10::IValue());
  }
};

struct StateFromDict {
  const GenericDict& d;
  void step(int64_t& field) {
    if (auto v = find(d, "step")) field = static_cast<int64_t>(std::llround(to_double(*v, "step")));
  }
  void tensor(const char* key, at::Tensor& field, bool /*none_when_undefined*/) {
    auto v = find(d, key);
    if (!v || v->isNone()) return;
    MMHOOK_CHECK_CODE(v->isTensor(), Code::kCheckpoint, "optimizer state: '", key,
                      "' is not a tensor");
    field = v->toTensor();
  }
};

// -- the tables ---------------------------------------------------------------------------------
// Each names LibTorch's classes, the options and the state. `check` adds rules across options;
// `has_state` says whether LibTorch would keep state for the parameter at all.

struct NoCrossChecks {
  template <class Options>
  static void check(const Options& /*o*/, const ConfigNode& /*cfg*/) {}
  template <class State>
  static bool has_state(const State& /*s*/) {
    return true;
  }
};

struct Sgd : NoCrossChecks {
  using Options = torch::optim::SGDOptions;
  using State = torch::optim::SGDParamState;
  using Optimizer = torch::optim::SGD;
  static constexpr const char* kName = "SGD";
  template <class V>
  static void options(Options& o, V& v) {
    v.number("lr", o.lr(), kRequired);
    v.number("momentum", o.momentum(), 0.0);
    v.number("dampening", o.dampening(), 0.0);
    v.number("weight_decay", o.weight_decay(), 0.0);
    v.flag("nesterov", o.nesterov(), false);
  }
  template <class V>
  static void state(State& s, V& v) {
    v.tensor("momentum_buffer", s.momentum_buffer(), /*none_when_undefined=*/true);
  }
  static void check(const Options& o, const ConfigNode& cfg) {
    if (o.nesterov() && (o.momentum() <= 0 || o.dampening() != 0))
      cfg.fail("nesterov", "Nesterov momentum requires a momentum and zero dampening");
  }
  // LibTorch creates SGD state only together with its momentum buffer.
  static bool has_state(const State& s) { return s.momentum_buffer().defined(); }
};

template <class OptionsT, class StateT, class OptimizerT>
struct AdamLike : NoCrossChecks {
  using Options = OptionsT;
  using State = StateT;
  using Optimizer = OptimizerT;
  template <class V>
  static void adam_options(Options& o, V& v, double weight_decay) {
    v.number("lr", o.lr(), 1e-3);
    v.pair("betas", o.betas(), Pair{0.9, 0.999}, "momentum");
    v.number("eps", o.eps(), 1e-8);
    v.number("weight_decay", o.weight_decay(), weight_decay);
    v.flag("amsgrad", o.amsgrad(), false);
  }
  template <class V>
  static void state(State& s, V& v) {
    v.step(s.step());
    v.tensor("exp_avg", s.exp_avg(), false);
    v.tensor("exp_avg_sq", s.exp_avg_sq(), false);
    v.tensor("max_exp_avg_sq", s.max_exp_avg_sq(), false);
  }
};

struct Adam
    : AdamLike<torch::optim::AdamOptions, torch::optim::AdamParamState, torch::optim::Adam> {
  static constexpr const char* kName = "Adam";
  template <class V>
  static void options(Options& o, V& v) {
    adam_options(o, v, 0.0);
  }
};

struct AdamW
    : AdamLike<torch::optim::AdamWOptions, torch::optim::AdamWParamState, torch::optim::AdamW> {
  static constexpr const char* kName = "AdamW";
  template <class V>
  static void options(Options& o, V& v) {
    adam_options(o, v, 1e-2);
  }
};

struct RMSprop : NoCrossChecks {
  using Options = torch::optim::RMSpropOptions;
  using State = torch::optim::RMSpropParamState;
  using Optimizer = torch::optim::RMSprop;
  static constexpr const char* kName = "RMSprop";
  template <class V>
  static void options(Options& o, V& v) {
    v.number("lr", o.lr(), 1e-2);
    v.number("alpha", o.alpha(), 0.99);
    v.number("eps", o.eps(), 1e-8);
    v.number("weight_decay", o.weight_decay(), 0.0);
    v.number("momentum", o.momentum(), 0.0);
    v.flag("centered", o.centered(), false);
  }
  template <class V>
  static void state(State& s, V& v) {
    v.step(s.step());
    v.tensor("square_avg", s.square_avg(), false);
    v.tensor("momentum_buffer", s.momentum_buffer(), false);
    v.tensor("grad_avg", s.grad_avg(), false);
  }
};

struct Adagrad : NoCrossChecks {
  using Options = torch::optim::AdagradOptions;
  using State = torch::optim::AdagradParamState;
  using Optimizer = torch::optim::Adagrad;
  static constexpr const char* kName = "Adagrad";
  template <class V>
  static void options(Options& o, V& v) {
    v.number("lr", o.lr(), 1e-2);
    v.number("lr_decay", o.lr_decay(), 0.0);
    v.number("weight_decay", o.weight_decay(), 0.0);
    v.number("initial_accumulator_value", o.initial_accumulator_value(), 0.0);
    v.number("eps", o.eps(), 1e-10);
  }
  template <class V>
  static void state(State& s, V& v) {
    v.step(s.step());
    v.tensor("sum", s.sum(), false);
  }
};

// -- one OptimizerType per table ----------------------------------------------------------------

template <class Table>
class TableType final : public OptimizerType {
  using Options = typename Table::Options;
  using State = typename Table::State;

 public:
  const std::string& name() const override { return name_; }

  std::unique_ptr<torch::optim::OptimizerOptions> parse(const ConfigNode& cfg) const override {
    auto o = std::make_unique<Options>(0.0);
    ParseOptions v{cfg};
    Table::options(*o, v);
    Table::check(*o, cfg);
    return o;
  }

  std::shared_ptr<torch::optim::Optimizer> make(
      std::vector<torch::optim::OptimizerParamGroup> groups,
      const torch::optim::OptimizerOptions& defaults) const override {
    return std::make_shared<typename Table::Optimizer>(std::move(groups), as<Options>(defaults));
  }

  std::optional<double> get(const torch::optim::OptimizerOptions& options,
                            const std::string& name) const override {
    NumberRef v{name};
    Table::options(mutable_options(options), v);  // reads only
    if (v.found == nullptr) return std::nullopt;
    return *v.found;
  }

  bool set(torch::optim::OptimizerOptions& options, const std::string& name,
           double value) const override {
    NumberRef v{name};
    Table::options(as<Options>(options), v);
    if (v.found == nullptr) return false;
    *v.found = value;
    return true;
  }

  GenericDict options_to_dict(const torch::optim::OptimizerOptions& options) const override {
    GenericDict d = new_str_dict();
    OptionsToDict v{d};
    Table::options(mutable_options(options), v);  // reads only
    return d;
  }

  std::vector<std::string> options_from_dict(torch::optim::OptimizerOptions& options,
                                             const GenericDict& dict) const override {
    std::vector<std::string> used;
    OptionsFromDict v{dict, used};
    Table::options(as<Options>(options), v);
    return used;
  }

  GenericDict state_to_dict(const torch::optim::OptimizerParamState& state) const override {
    GenericDict d = new_str_dict();
    StateToDict v{d};
    Table::state(const_cast<State&>(as<State>(state)), v);  // reads only
    return d;
  }

  std::unique_ptr<torch::optim::OptimizerParamState> state_from_dict(
      const GenericDict& dict) const override {
    auto s = std::make_unique<State>();
    StateFromDict v{dict};
    Table::state(*s, v);
    if (!Table::has_state(*s)) return nullptr;
    return s;
  }

 private:
  // The options and state LibTorch hands back are of the optimizer's own classes.
  template <class T, class Base>
  T& as(Base& base) const {
    auto* p = dynamic_cast<T*>(&base);
    MMHOOK_CHECK_CODE(p != nullptr, Code::kInternal, "optimizer options do not match type '", name_,
                      "'");
    return *p;
  }
  template <class T, class Base>
  const T& as(const Base& base) const {
    return as<T>(const_cast<Base&>(base));
  }
  Options& mutable_options(const torch::optim::OptimizerOptions& options) const {
    return const_cast<Options&>(as<Options>(options));
  }

  std::string name_ = Table::kName;
};

const std::vector<std::unique_ptr<const OptimizerType>>& all_types() {
  static const auto* types = [] {
    auto* v = new std::vector<std::unique_ptr<const OptimizerType>>();
    v->push_back(std::make_unique<TableType<Sgd>>());
    v->push_back(std::make_unique<TableType<Adam>>());
    v->push_back(std::make_unique<TableType<AdamW>>());
    v->push_back(std::make_unique<TableType<RMSprop>>());
    v->push_back(std::make_unique<TableType<Adagrad>>());
    return v;
  }();
  return *types;
}

}  // namespace

const OptimizerType* find_optimizer_type(const std::string& name) {
  for (const auto& t : all_types())
    if (t->name() == name) return t.get();
  return nullptr;
}

const OptimizerType& optimizer_type(const std::string& name) {
  const OptimizerType* t = find_optimizer_type(name);
  MMHOOK_CHECK(t != nullptr, "unsupported optimizer type '", name, "' (expected ",
               optimizer_type_list(), ")");
  return *t;
}

const std::vector<std::string>& optimizer_type_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& t : all_types()) out.push_back(t->name());
    return out;
  }();
  return names;
}

std::string optimizer_type_list() {
  const std::vector<std::string>& names = optimizer_type_names();
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

c10::impl::GenericDict new_str_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

std::string state_key(const at::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}

}  // namespace detail
}  // namespace mmhook
