#include "mmhook/evaluator/loss_metric.h"

#include <cmath>

#include <ATen/core/Tensor.h>

#include "evaluator/builtin_metrics.h"
#include "evaluator/mean_results.h"
#include "evaluator/metric_inputs.h"

namespace mmhook {

LossMetric::LossMetric(LossMetricOptions options)
    : BaseMetric(options.prefix), options_(std::move(options)) {
  MMHOOK_CHECK(!options_.key.empty(), "LossMetric.key must not be empty");
  MMHOOK_CHECK(!options_.name || !options_.name->empty(),
               "LossMetric.name must not be empty (leave it out for the default name)");
  name_ = options_.name ? *options_.name : options_.exp ? "perplexity" : "mean_" + options_.key;
}

void LossMetric::process(const TensorDict& data_batch, const TensorDict& outputs) {
  const at::Tensor& value =
      detail::require_entry(outputs, options_.key, "LossMetric", "outputs", "key");
  MMHOOK_CHECK(!value.is_complex(), "LossMetric: outputs['", options_.key, "'] is ",
               value.scalar_type(), "; complex values are not supported");
  const at::Tensor v = value.detach().to(at::kDouble);
  if (v.dim() > 0) {
    sum_ += v.sum().item<double>();
    count_ += v.numel();
    return;
  }
  const int64_t batch_size = detail::batch_size_of(data_batch);
  MMHOOK_CHECK(batch_size >= 0, "LossMetric: outputs['", options_.key,
               "'] is a 0-dim tensor, a per-batch mean weighted by the batch size, but no tensor "
               "of the data batch has a batch dimension to take it from");
  // A mean over no samples (NaN, usually) says nothing about the dataset's mean.
  if (batch_size == 0) return;
  sum_ += v.item<double>() * static_cast<double>(batch_size);
  count_ += batch_size;
}

Metrics LossMetric::compute_metrics() {
  Metrics out;
  if (count_ == 0) {
    detail::warn_empty_results("LossMetric");
    return out;
  }
  const double mean = sum_ / static_cast<double>(count_);
  out.set(name_, options_.exp ? std::exp(mean) : mean);
  return out;
}

void LossMetric::reset() {
  sum_ = 0;
  count_ = 0;
}

nlohmann::json LossMetric::results() const { return detail::mean_results_to_json({sum_, count_}); }

void LossMetric::merge_results(const nlohmann::json& results) {
  const detail::MeanResults r = detail::mean_results_from_json(results, "LossMetric");
  sum_ += r.sum;
  count_ += r.count;
}

void detail::register_loss_metric(Registry<BaseMetric>& registry) {
  registry.add("LossMetric", [](const ConfigNode& cfg) -> std::shared_ptr<BaseMetric> {
    LossMetricOptions o;
    o.key = cfg.get<std::string>("key", o.key);
    o.exp = cfg.get<bool>("exp", o.exp);
    o.name = cfg.get_optional<std::string>("name");
    o.prefix = cfg.get<std::string>("prefix", o.prefix);
    return std::make_shared<LossMetric>(std::move(o));
  });
}

}  // namespace mmhook
