#include "mmhook/evaluator/toy_metric.h"

#include "evaluator/builtin_metrics.h"

namespace mmhook {

ToyMetric::ToyMetric(std::vector<double> values, std::string prefix)
    : BaseMetric(std::move(prefix)), values_(std::move(values)) {}

void ToyMetric::process(const TensorDict& /*data_batch*/, const TensorDict& /*outputs*/) {
  ++processed_;
}

Metrics ToyMetric::compute_metrics() {
  const double acc =
      values_.empty()
          ? 1.0
          : values_[static_cast<size_t>(evaluations_ % static_cast<int64_t>(values_.size()))];
  ++evaluations_;
  Metrics out;
  out.set("acc", acc);
  return out;
}

void detail::register_toy_metric(Registry<BaseMetric>& registry) {
  registry.add("ToyMetric", [](const ConfigNode& cfg) -> std::shared_ptr<BaseMetric> {
    return std::make_shared<ToyMetric>(cfg.get<std::vector<double>>("values", {}),
                                       cfg.get<std::string>("prefix", ""));
  });
}

}  // namespace mmhook
