#include "mmhook/core/error.h"
#include "mmhook/optim/optim_wrapper.h"
#include "optim/optimizer_types.h"

namespace mmhook {

namespace {
[[noreturn]] void not_implemented(const char* what) {
  MMHOOK_THROW(Code::kFailedPrecondition, "`", what,
               "` is not implemented for OptimWrapperDict; call it on each wrapper, e.g. "
               "optim_wrapper[\"name\"].",
               what, "(...)");
}
}  // namespace

OptimWrapperDict::OptimWrapperDict(
    std::vector<std::pair<std::string, std::shared_ptr<OptimWrapper>>> wrappers) {
  for (auto& kv : wrappers) {
    MMHOOK_CHECK(kv.second != nullptr, "OptimWrapperDict: value of '", kv.first,
                 "' must be an OptimWrapper, got null");
    MMHOOK_CHECK(!wrappers_.contains(kv.first), "OptimWrapperDict: duplicate name '", kv.first,
                 "'");
    wrappers_.set(kv.first, std::move(kv.second));
  }
}

void OptimWrapperDict::update_params(const at::Tensor&) { not_implemented("update_params"); }
void OptimWrapperDict::backward(const at::Tensor&) { not_implemented("backward"); }
void OptimWrapperDict::step() { not_implemented("step"); }
std::unique_ptr<OptimContext> OptimWrapperDict::optim_context(torch::nn::Module&) {
  not_implemented("optim_context");
}

void OptimWrapperDict::zero_grad() {
  for (auto& kv : wrappers_) kv.second->zero_grad();
}

void OptimWrapperDict::initialize_count_status(const torch::nn::Module&, int64_t, int64_t) {}

size_t OptimWrapperDict::num_param_groups() const {
  size_t n = 0;
  for (const auto& kv : wrappers_) n += kv.second->num_param_groups();
  return n;
}

std::pair<OptimWrapper*, size_t> OptimWrapperDict::locate(size_t group) const {
  size_t g = group;
  for (const auto& kv : wrappers_) {
    const size_t n = kv.second->num_param_groups();
    if (g < n) return {kv.second.get(), g};
    g -= n;
  }
  MMHOOK_THROW(Code::kNotFound, "param group ", group, " does not exist (", num_param_groups(),
               " groups)");
}

bool OptimWrapperDict::has_group_value(size_t group, const std::string& name) const {
  if (group >= num_param_groups()) return false;
  auto loc = locate(group);
  return loc.first->has_group_value(loc.second, name);
}

double OptimWrapperDict::get_group_value(size_t group, const std::string& name) const {
  auto loc = locate(group);
  return loc.first->get_group_value(loc.second, name);
}

void OptimWrapperDict::set_group_value(size_t group, const std::string& name, double value) {
  auto loc = locate(group);
  loc.first->set_group_value(loc.second, name, value);
}

OrderedMap<std::vector<double>> OptimWrapperDict::get_lr() const {
  OrderedMap<std::vector<double>> out;
  for (const auto& kv : wrappers_)
    for (const auto& e : kv.second->get_lr()) out.set(kv.first + "." + e.first, e.second);
  return out;
}

void OptimWrapperDict::get_lr_into(OrderedMap<std::vector<double>>& out) const { out = get_lr(); }

OrderedMap<std::vector<double>> OptimWrapperDict::get_momentum() const {
  OrderedMap<std::vector<double>> out;
  for (const auto& kv : wrappers_)
    for (const auto& e : kv.second->get_momentum()) out.set(kv.first + "." + e.first, e.second);
  return out;
}

c10::IValue OptimWrapperDict::state_dict() const {
  auto d = detail::new_str_dict();
  for (const auto& kv : wrappers_) d.insert(kv.first, kv.second->state_dict());
  return d;
}

void OptimWrapperDict::load_state_dict(const c10::IValue& state) {
  MMHOOK_CHECK_CODE(state.isGenericDict(), Code::kCheckpoint,
                    "OptimWrapperDict state_dict must be a dict");
  auto d = state.toGenericDict();
  for (const auto& e : d) {
    const std::string name = e.key().toStringRef();
    MMHOOK_CHECK_CODE(wrappers_.contains(name), Code::kCheckpoint, "Mismatched state_dict: key '",
                      name, "' is not an optimizer wrapper of this OptimWrapperDict");
  }
  for (const auto& e : d) wrappers_.at(e.key().toStringRef())->load_state_dict(e.value());
}

OptimWrapper& OptimWrapperDict::operator[](const std::string& name) const { return *at(name); }

std::shared_ptr<OptimWrapper> OptimWrapperDict::at(const std::string& name) const {
  const auto* w = wrappers_.find(name);
  MMHOOK_CHECK_CODE(w != nullptr, Code::kNotFound, "OptimWrapperDict has no wrapper named '", name,
                    "'");
  return *w;
}

}  // namespace mmhook
