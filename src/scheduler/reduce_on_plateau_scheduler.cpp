#include "mmhook/scheduler/reduce_on_plateau_scheduler.h"

#include <algorithm>
#include <sstream>

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>

#include "mmhook/core/error.h"

namespace mmhook {

namespace {
// MMEngine's INF, used as the "worse" starting value of `best`.
constexpr double kInf = 1e9;
}  // namespace

ReduceOnPlateauParamScheduler::ReduceOnPlateauParamScheduler(
    OptimWrapper& optimizer, std::string param_name, std::string monitor, std::string rule,
    double factor, int64_t patience, double threshold, std::string threshold_rule, int64_t cooldown,
    const PerGroupValue& min_value, double eps, SchedulerArgs args)
    : ParamScheduler(optimizer, std::move(param_name), args),
      monitor_(std::move(monitor)),
      rule_(std::move(rule)),
      factor_(factor),
      patience_(patience),
      threshold_(threshold),
      threshold_rule_(std::move(threshold_rule)),
      cooldown_(cooldown),
      eps_(eps) {
  MMHOOK_CHECK(by_epoch_, "ReduceOnPlateauParamScheduler only support by_epoch=True");
  MMHOOK_CHECK(factor_ < 1.0, "Factor should be < 1.0, got ", factor_);
  min_values_ = detail::expand_per_group(min_value, optimizer, "min_value");
  validate();
  rule_worse_ = rule_ == "less" ? kInf : -kInf;
  best_ = rule_worse_;
  // No implicit first step: the counter starts at 0 and the values stay as they are.
  global_step_ = 0;
  record_last_value();
}

void ReduceOnPlateauParamScheduler::validate() const {
  MMHOOK_CHECK(threshold_ >= 0, "threshold ", threshold_, " should be >= 0.");
  MMHOOK_CHECK(rule_ == "less" || rule_ == "greater", "rule '", rule_,
               "' is unknown (less or greater)");
  MMHOOK_CHECK(threshold_rule_ == "rel" || threshold_rule_ == "abs", "threshold_rule '",
               threshold_rule_, "' is unknown (rel or abs)");
}

void ReduceOnPlateauParamScheduler::step() { global_step_ += 1; }

void ReduceOnPlateauParamScheduler::step(const OrderedMap<double>& metrics) {
  if (begin_ <= global_step_ && global_step_ < end_) {
    last_step_ += 1;
    const double* metric = metrics.find(monitor_);
    if (metric == nullptr) {
      std::ostringstream keys;
      for (const auto& kv : metrics)
        keys << (keys.tellp() > 0 ? ", " : "") << "'" << kv.first << "'";
      MMHOOK_THROW(Code::kNotFound, "ReduceOnPlateau: expected key in [", keys.str(),
                   "], but monitor '", monitor_, "' is not in the metrics");
    }
    if (is_better(*metric, best_)) {
      best_ = *metric;
      num_bad_epochs_ = 0;
    } else {
      num_bad_epochs_ += 1;
    }
    if (cooldown_counter_ > 0) {
      cooldown_counter_ -= 1;
      num_bad_epochs_ = 0;  // bad epochs in cooldown are ignored
    }
    if (num_bad_epochs_ > patience_) {
      const std::vector<double> values = get_value();
      for (size_t g = 0; g < values.size(); ++g)
        if (current(g) - values[g] > eps_) optimizer_->set_group_value(g, param_name_, values[g]);
      cooldown_counter_ = cooldown_;
      num_bad_epochs_ = 0;
    }
  }
  record_last_value();
}

std::vector<double> ReduceOnPlateauParamScheduler::get_value() {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g)
    out.push_back(std::max(current(g) * factor_, min_values_[g]));
  return out;
}

bool ReduceOnPlateauParamScheduler::is_better(double a, double best) const {
  if (rule_ == "less")
    return threshold_rule_ == "rel" ? a < best * (1.0 - threshold_) : a < best - threshold_;
  return threshold_rule_ == "rel" ? a > best * (threshold_ + 1.0) : a > best + threshold_;
}

void ReduceOnPlateauParamScheduler::save_extra(c10::impl::GenericDict& d) const {
  d.insert("monitor", monitor_);
  d.insert("rule", rule_);
  d.insert("factor", factor_);
  d.insert("patience", patience_);
  d.insert("threshold", threshold_);
  d.insert("threshold_rule", threshold_rule_);
  d.insert("cooldown", cooldown_);
  d.insert("cooldown_counter", cooldown_counter_);
  d.insert("rule_worse", rule_worse_);
  d.insert("best", best_);
  d.insert("num_bad_epochs", num_bad_epochs_);
  d.insert("eps", eps_);
  d.insert("min_values", c10::List<double>(min_values_));
}

void ReduceOnPlateauParamScheduler::load_extra(const c10::impl::GenericDict& d) {
  using detail::dict_at;
  using detail::ivalue_to_double;
  monitor_ = dict_at(d, "monitor").toStringRef();
  rule_ = dict_at(d, "rule").toStringRef();
  factor_ = ivalue_to_double(dict_at(d, "factor"));
  patience_ = dict_at(d, "patience").toInt();
  threshold_ = ivalue_to_double(dict_at(d, "threshold"));
  threshold_rule_ = dict_at(d, "threshold_rule").toStringRef();
  cooldown_ = dict_at(d, "cooldown").toInt();
  cooldown_counter_ = dict_at(d, "cooldown_counter").toInt();
  rule_worse_ = ivalue_to_double(dict_at(d, "rule_worse"));
  best_ = ivalue_to_double(dict_at(d, "best"));
  num_bad_epochs_ = dict_at(d, "num_bad_epochs").toInt();
  eps_ = ivalue_to_double(dict_at(d, "eps"));
  min_values_ = detail::ivalue_to_doubles(dict_at(d, "min_values"));
  try {
    validate();
  } catch (const Error& e) {
    MMHOOK_THROW(Code::kCheckpoint, "scheduler state: ", e.what());
  }
}

}  // namespace mmhook
