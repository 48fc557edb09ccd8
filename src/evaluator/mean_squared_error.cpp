#include "mmhook/evaluator/mean_squared_error.h"

#include <ATen/core/Tensor.h>

#include "evaluator/builtin_metrics.h"
#include "evaluator/mean_results.h"
#include "evaluator/metric_inputs.h"

namespace mmhook {

MeanSquaredError::MeanSquaredError(MeanSquaredErrorOptions options)
    : BaseMetric(options.prefix), options_(std::move(options)) {
  MMHOOK_CHECK(!options_.pred_key.empty(), "MeanSquaredError.pred_key must not be empty");
  MMHOOK_CHECK(!options_.target_key.empty(), "MeanSquaredError.target_key must not be empty");
}

void MeanSquaredError::process(const TensorDict& data_batch, const TensorDict& outputs) {
  const at::Tensor error = detail::prediction_error("MeanSquaredError", data_batch, outputs,
                                                    options_.pred_key, options_.target_key);
  sum_ += error.square().sum().item<double>();
  count_ += error.numel();
}

Metrics MeanSquaredError::compute_metrics() {
  Metrics out;
  if (count_ == 0) {
    detail::warn_empty_results("MeanSquaredError");
    return out;
  }
  out.set("mse", sum_ / static_cast<double>(count_));
  return out;
}

void MeanSquaredError::reset() {
  sum_ = 0;
  count_ = 0;
}

nlohmann::json MeanSquaredError::results() const {
  return detail::mean_results_to_json({sum_, count_});
}

void MeanSquaredError::merge_results(const nlohmann::json& results) {
  const detail::MeanResults r = detail::mean_results_from_json(results, "MeanSquaredError");
  sum_ += r.sum;
  count_ += r.count;
}

void detail::register_mean_squared_error(Registry<BaseMetric>& registry) {
  registry.add("MeanSquaredError", [](const ConfigNode& cfg) -> std::shared_ptr<BaseMetric> {
    MeanSquaredErrorOptions o;
    o.pred_key = cfg.get<std::string>("pred_key", o.pred_key);
    o.target_key = cfg.get<std::string>("target_key", o.target_key);
    o.prefix = cfg.get<std::string>("prefix", o.prefix);
    return std::make_shared<MeanSquaredError>(std::move(o));
  });
}

}  // namespace mmhook
