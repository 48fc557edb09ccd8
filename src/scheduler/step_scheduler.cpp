#include "mmhook/scheduler/step_scheduler.h"

#include <cmath>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

namespace mmhook {

StepParamScheduler::StepParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                       int64_t step_size, double gamma, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args), step_size_(step_size), gamma_(gamma) {
  MMHOOK_CHECK(step_size_ > 0, "StepParamScheduler.step_size must be > 0, got ", step_size_);
  initial_step();
}

std::vector<double> StepParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    out.push_back(last_step_ == 0 || last_step_ % step_size_ != 0 ? v : v * gamma_);
  }
  return out;
}

void StepParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("step_size", step_size_);
  d.insert("gamma", gamma_);
}

void StepParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  step_size_ = detail::dict_at(d, "step_size").toInt();
  gamma_ = detail::ivalue_to_double(detail::dict_at(d, "gamma"));
}

MultiStepParamScheduler::MultiStepParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                                 const std::vector<int64_t>& milestones,
                                                 double gamma, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args), gamma_(gamma) {
  for (int64_t m : milestones) milestones_[m] += 1;
  initial_step();
}

std::vector<double> MultiStepParamScheduler::get_value() {
  auto it = milestones_.find(last_step_);
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    out.push_back(it == milestones_.end() ? v
                                          : v * std::pow(gamma_, static_cast<double>(it->second)));
  }
  return out;
}

void MultiStepParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  c10::impl::GenericDict m(c10::IntType::get(), c10::IntType::get());
  for (const auto& kv : milestones_) m.insert(kv.first, kv.second);
  d.insert("milestones", m);
  d.insert("gamma", gamma_);
}

void MultiStepParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  milestones_.clear();
  for (const auto& e : detail::dict_at(d, "milestones").toGenericDict())
    milestones_[e.key().toInt()] = e.value().toInt();
  gamma_ = detail::ivalue_to_double(detail::dict_at(d, "gamma"));
}

}  // namespace mmhook
