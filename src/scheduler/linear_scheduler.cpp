#include "mmhook/scheduler/linear_scheduler.h"

#include <ATen/core/Dict.h>

namespace mmhook {

ConstantParamScheduler::ConstantParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                               double factor, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      factor_(factor),
      total_iters_(args.end - args.begin - 1) {
  MMHOOK_CHECK(factor_ >= 0 && factor_ <= 1.0,
               "Constant multiplicative factor should between 0 and 1, got ", factor_);
  initial_step();
}

std::vector<double> ConstantParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    if (last_step_ == 0)
      out.push_back(v * factor_);
    else if (last_step_ != total_iters_)
      out.push_back(v);
    else
      out.push_back(v * (1.0 / factor_));
  }
  return out;
}

void ConstantParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("factor", factor_);
  d.insert("total_iters", total_iters_);
}

void ConstantParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  factor_ = detail::ivalue_to_double(detail::dict_at(d, "factor"));
  total_iters_ = detail::dict_at(d, "total_iters").toInt();
}

LinearParamScheduler::LinearParamScheduler(OptimWrapper& optimizer, std::string param_name,
                                           double start_factor, double end_factor,
                                           SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(args.end - args.begin - 1) {
  MMHOOK_CHECK(start_factor_ > 0 && start_factor_ <= 1.0,
               "Starting multiplicative factor should between 0 and 1, got ", start_factor_);
  MMHOOK_CHECK(end_factor_ >= 0 && end_factor_ <= 1.0,
               "Ending multiplicative factor should between 0 and 1, got ", end_factor_);
  initial_step();
}

std::vector<double> LinearParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    if (last_step_ == 0) {
      out.push_back(v * start_factor_);
    } else {
      out.push_back(v * (1.0 + (end_factor_ - start_factor_) /
                                   (total_iters_ * start_factor_ +
                                    (last_step_ - 1) * (end_factor_ - start_factor_))));
    }
  }
  return out;
}

void LinearParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("start_factor", start_factor_);
  d.insert("end_factor", end_factor_);
  d.insert("total_iters", total_iters_);
}

void LinearParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  start_factor_ = detail::ivalue_to_double(detail::dict_at(d, "start_factor"));
  end_factor_ = detail::ivalue_to_double(detail::dict_at(d, "end_factor"));
  total_iters_ = detail::dict_at(d, "total_iters").toInt();
}

}  // namespace mmhook
