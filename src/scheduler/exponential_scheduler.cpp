#include "mmhook/scheduler/exponential_scheduler.h"

#include <ATen/core/Dict.h>

namespace mmhook {

ExponentialParamScheduler::ExponentialParamScheduler(OptimWrapper& optimizer,
                                                     std::string param_name, double gamma,
                                                     SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g)
    out.push_back(last_step_ == 0 ? current(g) : current(g) * gamma_);
  return out;
}

void ExponentialParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("gamma", gamma_);
}

void ExponentialParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  gamma_ = detail::ivalue_to_double(detail::dict_at(d, "gamma"));
}

}  // namespace mmhook
