#include "mmhook/scheduler/one_cycle_scheduler.h"

#include <cmath>

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>

#include "mmhook/core/error.h"

namespace mmhook {

namespace {
constexpr double kPi = 3.14159265358979323846;

void check_total_steps(int64_t total_steps) {
  MMHOOK_CHECK(total_steps > 0, "Expected positive integer total_steps, but got ", total_steps);
}
}  // namespace

OptimWrapper& OneCycleParamScheduler::prepare(
    OptimWrapper& optimizer, const std::string& param_name, const PerGroupValue& eta_max,
    std::optional<int64_t> total_steps, const SchedulerArgs& args, double pct_start,
    const std::string& anneal_strategy, double div_factor, double final_div_factor) {
  if (total_steps) check_total_steps(*total_steps);
  MMHOOK_CHECK(pct_start >= 0 && pct_start <= 1,
               "Expected float between 0 and 1 pct_start, but got ", pct_start);
  MMHOOK_CHECK(anneal_strategy == "cos" || anneal_strategy == "linear",
               "anneal_strategy must by one of \"cos\" or \"linear\", instead got ",
               anneal_strategy);
  const std::vector<double> max_values =
      detail::expand_per_group(eta_max, optimizer, "max_" + param_name, /*allow_all_groups=*/true);
  if (args.last_step == -1) {
    for (size_t g = 0; g < optimizer.num_param_groups(); ++g) {
      const double initial = max_values[g] / div_factor;
      optimizer.set_group_value(g, "initial_" + param_name, initial);
      optimizer.set_group_value(g, "max_" + param_name, max_values[g]);
      optimizer.set_group_value(g, "min_" + param_name, initial / final_div_factor);
    }
  }
  return optimizer;
}

OneCycleParamScheduler::OneCycleParamScheduler(
    OptimWrapper& optimizer, const std::string& param_name, const PerGroupValue& eta_max,
    std::optional<int64_t> total_steps, double pct_start, std::string anneal_strategy,
    double div_factor, double final_div_factor, bool three_phase, SchedulerArgs args)
    : ParamScheduler(prepare(optimizer, param_name, eta_max, total_steps, args, pct_start,
                             anneal_strategy, div_factor, final_div_factor),
                     param_name, args),
      eta_max_(detail::expand_per_group(eta_max, optimizer, "max_" + param_name, true)),
      total_steps_(total_steps.value_or(args.end - args.begin)),
      pct_start_(pct_start),
      anneal_strategy_(std::move(anneal_strategy)),
      div_factor_(div_factor),
      final_div_factor_(final_div_factor),
      three_phase_(three_phase) {
  check_total_steps(total_steps_);
  build_phases();
  initial_step();
}

void OneCycleParamScheduler::build_phases() {
  const std::string initial = "initial_" + param_name_;
  const std::string max = "max_" + param_name_;
  const std::string min = "min_" + param_name_;
  const double total = static_cast<double>(total_steps_);
  if (three_phase_) {
    phases_ = {{pct_start_ * total - 1, initial, max},
               {2 * pct_start_ * total - 2, max, initial},
               {total - 1, initial, min}};
  } else {
    phases_ = {{pct_start_ * total - 1, initial, max}, {total - 1, max, min}};
  }
}

std::vector<double> OneCycleParamScheduler::get_value() {
  const int64_t step_num = last_step_;
  MMHOOK_CHECK(step_num <= total_steps_, "Tried to step ", step_num + 1,
               " times. The specified number of total steps is ", total_steps_);
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) {
    double start_step = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& phase = phases_[i];
      if (step_num <= phase.end_step || i + 1 == phases_.size()) {
        MMHOOK_CHECK(phase.end_step != start_step, "OneCycle phase ", i,
                     " has zero length (pct_start=", pct_start_, ", total_steps=", total_steps_,
                     ")");
        const double pct = (step_num - start_step) / (phase.end_step - start_step);
        const double start = optimizer_->get_group_value(g, phase.start_key);
        const double end = optimizer_->get_group_value(g, phase.end_key);
        if (anneal_strategy_ == "cos")
          out.push_back(end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1));
        else
          out.push_back((end - start) * pct + start);
        break;
      }
      start_step = phase.end_step;
    }
  }
  return out;
}

void OneCycleParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("eta_max", c10::List<double>(eta_max_));
  d.insert("total_steps", total_steps_);
  d.insert("pct_start", pct_start_);
  d.insert("anneal_strategy", anneal_strategy_);
  d.insert("div_factor", div_factor_);
  d.insert("final_div_factor", final_div_factor_);
  d.insert("three_phase", three_phase_);
}

void OneCycleParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  eta_max_ = detail::ivalue_to_doubles(detail::dict_at(d, "eta_max"));
  total_steps_ = detail::dict_at(d, "total_steps").toInt();
  pct_start_ = detail::ivalue_to_double(detail::dict_at(d, "pct_start"));
  anneal_strategy_ = detail::dict_at(d, "anneal_strategy").toStringRef();
  div_factor_ = detail::ivalue_to_double(detail::dict_at(d, "div_factor"));
  final_div_factor_ = detail::ivalue_to_double(detail::dict_at(d, "final_div_factor"));
  three_phase_ = detail::dict_at(d, "three_phase").toBool();
  MMHOOK_CHECK_CODE(anneal_strategy_ == "cos" || anneal_strategy_ == "linear", Code::kCheckpoint,
                    "scheduler state: bad anneal_strategy '", anneal_strategy_, "'");
  build_phases();
}

}  // namespace mmhook
