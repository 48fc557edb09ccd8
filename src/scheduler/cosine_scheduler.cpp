#include "mmhook/scheduler/cosine_scheduler.h"

#include <cmath>

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>

namespace mmhook {

namespace {
constexpr double kPi = 3.14159265358979323846;

void put_optional(c10::impl::GenericDict& d, const char* key, const std::optional<double>& v) {
  if (v)
    d.insert(key, *v);
  else
    d.insert(key, c10::IValue());
}

std::optional<double> get_optional(const c10::impl::GenericDict& d, const char* key) {
  c10::IValue v = detail::dict_at(d, key);
  if (v.isNone()) return std::nullopt;
  return detail::ivalue_to_double(v);
}
}  // namespace

CosineAnnealingParamScheduler::CosineAnnealingParamScheduler(
    OptimWrapper& optimizer, std::string param_name, std::optional<int64_t> T_max,
    std::optional<double> eta_min, std::optional<double> eta_min_ratio, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      T_max_(T_max.value_or(args.end - args.begin)),
      eta_min_(eta_min),
      eta_min_ratio_(eta_min_ratio) {
  MMHOOK_CHECK(!(eta_min_ && eta_min_ratio_),
               "eta_min and eta_min_ratio cannot be set at the same time");
  if (!eta_min_ && !eta_min_ratio_) eta_min_ = 0.0;
  MMHOOK_CHECK(T_max_ > 0, "CosineAnnealing T_max must be > 0, got ", T_max_);
  initial_step();
}

std::vector<double> CosineAnnealingParamScheduler::get_value() {
  std::vector<double> out;
  const double T = static_cast<double>(T_max_);
  for (size_t g = 0; g < num_groups(); ++g) {
    const double v = current(g);
    const double base = base_values_[g];
    const double eta = eta_min_ratio_ ? base * *eta_min_ratio_ : *eta_min_;
    if (last_step_ == 0) {
      out.push_back(v);
    } else if (detail::py_mod(last_step_ - 1 - T_max_, 2 * T_max_) == 0) {
      out.push_back(v + (base - eta) * (1 - std::cos(kPi / T)) / 2);
    } else {
      out.push_back((1 + std::cos(kPi * last_step_ / T)) /
                        (1 + std::cos(kPi * (last_step_ - 1) / T)) * (v - eta) +
                    eta);
    }
  }
  return out;
}

void CosineAnnealingParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("T_max", T_max_);
  put_optional(d, "eta_min", eta_min_);
  put_optional(d, "eta_min_ratio", eta_min_ratio_);
}

void CosineAnnealingParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  T_max_ = detail::dict_at(d, "T_max").toInt();
  eta_min_ = get_optional(d, "eta_min");
  eta_min_ratio_ = get_optional(d, "eta_min_ratio");
}

CosineRestartParamScheduler::CosineRestartParamScheduler(
    OptimWrapper& optimizer, std::string param_name, std::vector<int64_t> periods,
    std::vector<double> restart_weights, std::optional<double> eta_min,
    std::optional<double> eta_min_ratio, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      periods_(std::move(periods)),
      restart_weights_(std::move(restart_weights)),
      eta_min_(eta_min),
      eta_min_ratio_(eta_min_ratio) {
  MMHOOK_CHECK((eta_min_.has_value()) != (eta_min_ratio_.has_value()),
               "Either eta_min or eta_min_ratio should be specified");
  MMHOOK_CHECK(periods_.size() == restart_weights_.size(),
               "periods and restart_weights should have the same length, got ", periods_.size(),
               " and ", restart_weights_.size());
  int64_t sum = 0;
  for (int64_t p : periods_) cumulative_periods_.push_back(sum += p);
  initial_step();
}

std::vector<double> CosineRestartParamScheduler::get_value() {
  size_t idx = 0;
  while (idx < cumulative_periods_.size() && last_step_ >= cumulative_periods_[idx]) ++idx;
  std::vector<double> out;
  if (idx == cumulative_periods_.size()) {  // past the last period: hold
    for (size_t g = 0; g < num_groups(); ++g) out.push_back(current(g));
    return out;
  }
  const double weight = restart_weights_[idx];
  const int64_t nearest_restart = idx == 0 ? 0 : cumulative_periods_[idx - 1];
  const double period = static_cast<double>(periods_[idx]);
  const int64_t step = last_step_ - nearest_restart;
  for (size_t g = 0; g < num_groups(); ++g) {
    const double base = base_values_[g];
    const double eta = eta_min_ratio_ ? base * *eta_min_ratio_ : *eta_min_;
    if (step == 0) {
      out.push_back(base * weight);
    } else {
      out.push_back((1 + std::cos(kPi * step / period)) /
                        (1 + std::cos(kPi * (step - 1) / period)) * (current(g) - eta) +
                    eta);
    }
  }
  return out;
}

void CosineRestartParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("periods", c10::List<int64_t>(periods_));
  d.insert("restart_weights", c10::List<double>(restart_weights_));
  d.insert("cumulative_periods", c10::List<int64_t>(cumulative_periods_));
  put_optional(d, "eta_min", eta_min_);
  put_optional(d, "eta_min_ratio", eta_min_ratio_);
}

void CosineRestartParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  periods_ = detail::dict_at(d, "periods").toIntVector();
  restart_weights_ = detail::ivalue_to_doubles(detail::dict_at(d, "restart_weights"));
  cumulative_periods_ = detail::dict_at(d, "cumulative_periods").toIntVector();
  eta_min_ = get_optional(d, "eta_min");
  eta_min_ratio_ = get_optional(d, "eta_min_ratio");
}

}  // namespace mmhook
