#pragma once
/// @file
/// `ToyMetric`: the deterministic test fixture of docs/design.md §A8.

#include <vector>

#include "mmhook/evaluator/metric.h"

namespace mmhook {

/// The k-th evaluation (k from 0) returns {"acc": values[k % values.size()]}, or {"acc": 1.0}
/// when `values` is empty. `process` only counts the batches it saw.
class ToyMetric : public BaseMetric {
 public:
  /// `values` (default empty) and optional `prefix`.
  explicit ToyMetric(std::vector<double> values = {}, std::string prefix = "");
  /// Counts the batch.
  void process(const TensorDict& data_batch, const TensorDict& outputs) override;
  /// {"acc": ...} as described above; advances k.
  Metrics compute_metrics() override;
  /// Clears the batch count (k keeps counting).
  void reset() override { processed_ = 0; }
  /// {"processed": n}.
  nlohmann::json results() const override { return {{"processed", processed_}}; }
  /// Adds another process's batch count.
  void merge_results(const nlohmann::json& r) override {
    processed_ += r.at("processed").get<int64_t>();
  }
  /// Batches processed since the last evaluation.
  int64_t processed() const { return processed_; }
  /// Evaluations so far.
  int64_t evaluations() const { return evaluations_; }

 private:
  std::vector<double> values_;
  int64_t processed_ = 0;
  int64_t evaluations_ = 0;
};

}  // namespace mmhook
