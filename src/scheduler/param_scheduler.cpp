#include "mmhook/scheduler/param_scheduler.h"

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>

#include "mmhook/core/error.h"

namespace mmhook {

namespace detail {

double ivalue_to_double(const c10::IValue& v) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  MMHOOK_THROW(Code::kCheckpoint, "scheduler state: expected a number, got ", v.tagKind());
}

c10::IValue dict_at(const c10::impl::GenericDict& d, const std::string& key) {
  auto it = d.find(c10::IValue(key));
  MMHOOK_CHECK_CODE(it != d.end(), Code::kCheckpoint, "scheduler state lacks key '", key, "'");
  return it->value();
}

std::vector<double> ivalue_to_doubles(const c10::IValue& v) {
  MMHOOK_CHECK_CODE(v.isList() || v.isDoubleList(), Code::kCheckpoint,
                    "scheduler state: expected a list");
  std::vector<double> out;
  for (const auto& e : v.toListRef()) out.push_back(ivalue_to_double(e));
  return out;
}

std::vector<double> expand_per_group(const PerGroupValue& value, const OptimWrapper& optimizer,
                                     const std::string& name, bool allow_all_groups) {
  const size_t all = optimizer.num_param_groups();
  if (const double* scalar = std::get_if<double>(&value)) return std::vector<double>(all, *scalar);
  std::vector<double> list = std::get<std::vector<double>>(value);
  const size_t real = all - (optimizer.has_base_group() ? 1 : 0);
  if (allow_all_groups && list.size() == all) return list;
  MMHOOK_CHECK(list.size() == real && !list.empty(), "expected ", real, " values for ", name,
               ", got ", list.size());
  while (list.size() < all) list.push_back(list.back());
  return list;
}

}  // namespace detail

namespace {
c10::List<double> to_list(const std::vector<double>& v) { return c10::List<double>(v); }
}  // namespace

ParamScheduler::ParamScheduler(OptimWrapper& optimizer, std::string param_name, SchedulerArgs args)
    : optimizer_(&optimizer),
      param_name_(std::move(param_name)),
      begin_(args.begin),
      end_(args.end),
      last_step_(args.last_step),
      by_epoch_(args.by_epoch) {
  MMHOOK_CHECK(end_ > begin_, "end should be larger than begin, but got begin=", begin_,
               ", end=", end_);
  MMHOOK_CHECK(last_step_ >= -1, "last_step must be >= -1, got ", last_step_);
  const std::string initial = "initial_" + param_name_;
  for (size_t g = 0; g < num_groups(); ++g) {
    if (param_name_ == "momentum")
      MMHOOK_CHECK(optimizer_->has_group_value(g, "momentum"),
                   "optimizer must support momentum when using momentum scheduler (",
                   optimizer_->optimizer_type(), " has none)");
    MMHOOK_CHECK_CODE(optimizer_->has_group_value(g, param_name_), Code::kNotFound, "param group ",
                      g, " has no parameter '", param_name_, "' to schedule");
    if (last_step_ == -1) {
      if (!optimizer_->has_group_value(g, initial))
        optimizer_->set_group_value(g, initial, optimizer_->get_group_value(g, param_name_));
    } else {
      MMHOOK_CHECK_CODE(optimizer_->has_group_value(g, initial), Code::kNotFound, "param '",
                        initial, "' is not specified in param_groups[", g,
                        "] when resuming an optimizer");
    }
    base_values_.push_back(optimizer_->get_group_value(g, initial));
  }
}

ParamScheduler::~ParamScheduler() = default;

void ParamScheduler::step() {
  global_step_ += 1;
  if (begin_ <= global_step_ && global_step_ < end_) {
    last_step_ += 1;
    std::vector<double> values = get_value();
    for (size_t g = 0; g < values.size(); ++g)
      optimizer_->set_group_value(g, param_name_, values[g]);
  }
  record_last_value();
}

void ParamScheduler::step(const OrderedMap<double>& /*metrics*/) { step(); }

size_t ParamScheduler::num_real_groups() const {
  return num_groups() - (optimizer_->has_base_group() ? 1 : 0);
}

void ParamScheduler::record_last_value() {
  last_value_.clear();
  for (size_t g = 0; g < num_groups(); ++g) last_value_.push_back(current(g));
}

c10::IValue ParamScheduler::state_dict() const {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("begin", begin_);
  d.insert("end", end_);
  d.insert("by_epoch", by_epoch_);
  d.insert("base_values", to_list(base_values_));
  d.insert("last_step", last_step_);
  d.insert("_global_step", global_step_);
  d.insert("_last_value", to_list(last_value_));
  d.insert("verbose", false);
  d.insert("param_name", param_name_);
  save_extra(d);
  return d;
}

void ParamScheduler::load_state_dict(const c10::IValue& state) {
  MMHOOK_CHECK_CODE(state.isGenericDict(), Code::kCheckpoint, "scheduler state must be a dict");
  auto d = state.toGenericDict();
  using detail::dict_at;
  begin_ = dict_at(d, "begin").toInt();
  end_ = dict_at(d, "end").toInt();
  by_epoch_ = dict_at(d, "by_epoch").toBool();
  base_values_ = detail::ivalue_to_doubles(dict_at(d, "base_values"));
  last_step_ = dict_at(d, "last_step").toInt();
  global_step_ = dict_at(d, "_global_step").toInt();
  last_value_ = detail::ivalue_to_doubles(dict_at(d, "_last_value"));
  param_name_ = dict_at(d, "param_name").toStringRef();
  load_extra(d);
}

void ParamScheduler::save_extra(c10::impl::GenericDict&) const {}
void ParamScheduler::load_extra(const c10::impl::GenericDict&) {}

}  // namespace mmhook
