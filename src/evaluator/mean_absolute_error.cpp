#include "mmhook/evaluator/mean_absolute_error.h"

#include <ATen/core/Tensor.h>

#include "evaluator/builtin_metrics.h"
#include "evaluator/mean_results.h"
#include "evaluator/metric_inputs.h"

namespace mmhook {

MeanAbsoluteError::MeanAbsoluteError(MeanAbsoluteErrorOptions options)
    : BaseMetric(options.prefix), options_(std::move(options)) {
  MMHOOK_CHECK(!options_.pred_key.empty(), "MeanAbsoluteError.pred_key must not be empty");
  MMHOOK_CHECK(!options_.target_key.empty(), "MeanAbsoluteError.target_key must not be empty");
}

void MeanAbsoluteError::process(const TensorDict& data_batch, const TensorDict& outputs) {
  const at::Tensor error = detail::prediction_error("MeanAbsoluteError", data_batch, outputs,
                                                    options_.pred_key, options_.target_key);
  sum_ += error.abs().sum().item<double>();
  count_ += error.numel();
}

Metrics MeanAbsoluteError::compute_metrics() {
  Metrics out;
  if (count_ == 0) {
    detail::warn_empty_results("MeanAbsoluteError");
    return out;
  }
  out.set("mae", sum_ / static_cast<double>(count_));
  return out;
}

void MeanAbsoluteError::reset() {
  sum_ = 0;
  count_ = 0;
}

nlohmann::json MeanAbsoluteError::results() const {
  return detail::mean_results_to_json({sum_, count_});
}

void MeanAbsoluteError::merge_results(const nlohmann::json& results) {
  const detail::MeanResults r = detail::mean_results_from_json(results, "MeanAbsoluteError");
  sum_ += r.sum;
  count_ += r.count;
}

void detail::register_mean_absolute_error(Registry<BaseMetric>& registry) {
  registry.add("MeanAbsoluteError", [](const ConfigNode& cfg) -> std::shared_ptr<BaseMetric> {
    MeanAbsoluteErrorOptions o;
    o.pred_key = cfg.get<std::string>("pred_key", o.pred_key);
    o.target_key = cfg.get<std::string>("target_key", o.target_key);
    o.prefix = cfg.get<std::string>("prefix", o.prefix);
    return std::make_shared<MeanAbsoluteError>(std::move(o));
  });
}

}  // namespace mmhook
