#include "mmhook/scheduler/poly_scheduler.h"

#include <cmath>

#include <ATen/core/Dict.h>

namespace mmhook {

PolyParamScheduler::PolyParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                       double eta_min, double power, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      eta_min_(eta_min),
      power_(power),
      total_iters_(args.end - args.begin - 1) {
  initial_step();
}

std::vector<double> PolyParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    if (last_step_ == 0) {
      out.push_back(v);
    } else {
      const double f = 1.0 - 1.0 / static_cast<double>(total_iters_ - last_step_ + 1);
      out.push_back((v - eta_min_) * std::pow(f, power_) + eta_min_);
    }
  }
  return out;
}

void PolyParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("eta_min", eta_min_);
  d.insert("power", power_);
  d.insert("total_iters", total_iters_);
}

void PolyParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  eta_min_ = detail::ivalue_to_double(detail::dict_at(d, "eta_min"));
  power_ = detail::ivalue_to_double(detail::dict_at(d, "power"));
  total_iters_ = detail::dict_at(d, "total_iters").toInt();
}

}  // namespace mmhook
