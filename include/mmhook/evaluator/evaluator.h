#pragma once
/// @file
/// `Evaluator`: a list of metrics fed together (MMEngine's `mmengine/evaluator/evaluator.py`).

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/config/config_node.h"
#include "mmhook/evaluator/metric.h"

namespace mmhook {

/// Feeds every metric and merges their results.
class Evaluator {
 public:
  /// The metrics, in the order their keys appear in the merged result.
  explicit Evaluator(std::vector<std::shared_ptr<BaseMetric>> metrics);
  /// Passes one batch and the model's outputs to every metric.
  void process(const TensorDict& data_batch, const TensorDict& outputs);
  /// Evaluates every metric; a key produced twice is an invalid-argument Error naming it.
  Metrics evaluate(int64_t size);
  /// Sets the dataset meta of every metric.
  void set_dataset_meta(const nlohmann::json& meta);
  /// The dataset meta (null when unset).
  const nlohmann::json& dataset_meta() const { return dataset_meta_; }
  /// The metrics.
  const std::vector<std::shared_ptr<BaseMetric>>& metrics() const { return metrics_; }

 private:
  std::vector<std::shared_ptr<BaseMetric>> metrics_;
  nlohmann::json dataset_meta_;
};

/// Builds an evaluator from a metric object, a list of metric objects, or
/// {"type": "Evaluator", "metrics": metric | [metrics]}; `path` names the config key in errors.
std::shared_ptr<Evaluator> build_evaluator(const nlohmann::json& cfg,
                                           const std::string& path = "val_evaluator");
/// The same from a config node (a single metric object or {"type": "Evaluator", ...}).
std::shared_ptr<Evaluator> build_evaluator(const ConfigNode& cfg);

}  // namespace mmhook
