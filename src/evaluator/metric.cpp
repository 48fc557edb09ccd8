#include "mmhook/evaluator/metric.h"

#include <typeinfo>

#include "mmhook/dist/dist.h"

#include "evaluator/builtin_metrics.h"

namespace mmhook {

nlohmann::json BaseMetric::results() const {
  MMHOOK_THROW(Code::kDistributed, "metric '", prefix_.empty() ? typeid(*this).name() : prefix_,
               "' cannot be gathered across processes: it does not override results() and "
               "merge_results()");
}

void BaseMetric::merge_results(const nlohmann::json& /*results*/) {
  MMHOOK_THROW(Code::kDistributed, "metric '", prefix_.empty() ? typeid(*this).name() : prefix_,
               "' cannot be gathered across processes: it does not override merge_results()");
}

Metrics BaseMetric::evaluate(int64_t /*size*/) {
  if (dist::get_world_size() > 1) {
    const std::vector<nlohmann::json> all = dist::all_gather_object(results());
    reset();
    for (const auto& r : all) merge_results(r);
  }
  Metrics raw = compute_metrics();
  reset();
  if (prefix_.empty()) return raw;
  Metrics out;
  for (const auto& kv : raw) out.set(prefix_ + "/" + kv.first, kv.second);
  return out;
}

Registry<BaseMetric>& metric_registry() {
  static Registry<BaseMetric>* registry = [] {
    // Constructor checks raise invalid-argument Errors; from a config they become config Errors
    // that carry the JSON path.
    auto* r = new Registry<BaseMetric>("metric", FactoryErrors::kConfigAtPath);
    detail::register_accuracy(*r);
    detail::register_loss_metric(*r);
    detail::register_mean_absolute_error(*r);
    detail::register_mean_squared_error(*r);
    detail::register_toy_metric(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
