#include "mmhook/evaluator/evaluator.h"

namespace mmhook {

Evaluator::Evaluator(std::vector<std::shared_ptr<BaseMetric>> metrics)
    : metrics_(std::move(metrics)) {
  for (size_t i = 0; i < metrics_.size(); ++i)
    MMHOOK_CHECK(metrics_[i] != nullptr, "Evaluator: metric ", i, " is null");
}

void Evaluator::process(const TensorDict& data_batch, const TensorDict& outputs) {
  for (auto& m : metrics_) m->process(data_batch, outputs);
}

Metrics Evaluator::evaluate(int64_t size) {
  Metrics out;
  for (auto& m : metrics_) {
    for (const auto& kv : m->evaluate(size)) {
      MMHOOK_CHECK(!out.contains(kv.first),
                   "There are multiple evaluation results with the same metric name '", kv.first,
                   "'. Please make sure all metrics have different prefixes.");
      out.set(kv.first, kv.second);
    }
  }
  return out;
}

void Evaluator::set_dataset_meta(const nlohmann::json& meta) {
  dataset_meta_ = meta;
  for (auto& m : metrics_) m->set_dataset_meta(meta);
}

namespace {

std::vector<std::shared_ptr<BaseMetric>> build_metrics(const nlohmann::json& cfg,
                                                       const std::string& path) {
  std::vector<std::shared_ptr<BaseMetric>> out;
  if (cfg.is_array()) {
    for (size_t i = 0; i < cfg.size(); ++i)
      out.push_back(
          metric_registry().build(ConfigNode(cfg[i], path + "[" + std::to_string(i) + "]")));
    return out;
  }
  out.push_back(metric_registry().build(ConfigNode(cfg, path)));
  return out;
}

}  // namespace

std::shared_ptr<Evaluator> build_evaluator(const nlohmann::json& cfg, const std::string& path) {
  if (cfg.is_object() && cfg.value("type", std::string()) == "Evaluator") {
    ConfigNode node(cfg, path);
    node.mark_used("type");
    if (!node.has("metrics")) node.fail("metrics", "required key is missing");
    auto metrics = build_metrics(cfg.at("metrics"), node.key_path("metrics"));
    node.mark_used("metrics");
    node.check_unused();
    return std::make_shared<Evaluator>(std::move(metrics));
  }
  if (!cfg.is_array() && !cfg.is_object())
    MMHOOK_THROW(Code::kConfig, path, ": expected a metric object or a list of metrics, got ",
                 json_type_name(cfg));
  return std::make_shared<Evaluator>(build_metrics(cfg, path));
}

std::shared_ptr<Evaluator> build_evaluator(const ConfigNode& cfg) {
  return build_evaluator(cfg.json(), cfg.path());
}

}  // namespace mmhook
