#pragma once
/// @file
/// `BaseMetric` (MMEngine's `mmengine/evaluator/metric.py`) and the metric registry.
///
/// Contract: override `process` (accumulate one batch) and `compute_metrics` (the metrics over
/// everything processed since the last evaluation), plus `reset` when the subclass keeps
/// state. `evaluate(size)` computes, prefixes the keys with "prefix/" and resets.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "mmhook/config/registry.h"
#include "mmhook/core/metrics.h"
#include "mmhook/core/tensor_dict.h"

namespace mmhook {

/// Base class of metrics.
class BaseMetric {
 public:
  /// `prefix` ("" for none) names the keys "prefix/key".
  explicit BaseMetric(std::string prefix = "") : prefix_(std::move(prefix)) {}
  virtual ~BaseMetric() = default;
  /// Accumulates one batch: the loader's batch and the model's predict outputs.
  virtual void process(const TensorDict& data_batch, const TensorDict& outputs) = 0;
  /// Metrics over the batches processed since the last reset (keys without prefix).
  virtual Metrics compute_metrics() = 0;
  /// Drops the accumulated results.
  virtual void reset() {}
  /// This process's accumulated results as JSON, for gathering across processes (MMEngine's
  /// collect_results). The default is a kDistributed Error naming the metric: a metric used in
  /// a multi-process evaluation must override this and merge_results.
  virtual nlohmann::json results() const;
  /// Adds results produced by `results()` of another process to this one's.
  virtual void merge_results(const nlohmann::json& results);
  /// Computes the metrics, prefixes their keys and resets. With several processes, the results
  /// of all ranks are gathered first (rank order) and every rank computes the same metrics.
  /// `size` is the dataset size (kept for MMEngine's signature; distributed evaluation loaders
  /// do not pad, so results are not truncated).
  Metrics evaluate(int64_t size);
  /// The key prefix ("" for none).
  const std::string& prefix() const { return prefix_; }
  /// Sets the dataset meta (copied from the dataset by the val/test loops).
  void set_dataset_meta(nlohmann::json meta) { dataset_meta_ = std::move(meta); }
  /// The dataset meta (null when unset).
  const nlohmann::json& dataset_meta() const { return dataset_meta_; }

 protected:
  /// Prefix of the metric keys ("" for none).
  std::string prefix_;
  /// The dataset meta (null when unset).
  nlohmann::json dataset_meta_;
};

/// The metric registry; the built-in metrics ("Accuracy", "LossMetric", "MeanAbsoluteError",
/// "MeanSquaredError", "ToyMetric") are registered on the first call. An invalid-argument Error
/// from a factory (a constructor rejecting an option) becomes a config Error at the JSON path.
Registry<BaseMetric>& metric_registry();

}  // namespace mmhook
