#pragma once
/// @file
/// `Accuracy`: top-k classification accuracy (MMPretrain's `Accuracy` without thresholds).

#include <vector>

#include "mmhook/evaluator/metric.h"

namespace mmhook {

/// Top-k accuracy over outputs["outputs"] (scores/logits [B, C]) against data_batch["targets"]
/// (class indices [B]). Keys "top1", "top5"... prefixed "accuracy/" by default, as MMPretrain
/// names them. Values are FRACTIONS in [0, 1] (MMPretrain reports percents). A k larger than the
/// number of classes counts every sample as correct.
class Accuracy : public BaseMetric {
 public:
  /// `topk` (default {1}) values must be >= 1; `prefix` defaults to "accuracy".
  explicit Accuracy(std::vector<int64_t> topk = {1}, std::string prefix = "accuracy");
  /// Counts the correct predictions of one batch.
  void process(const TensorDict& data_batch, const TensorDict& outputs) override;
  /// {"top<k>": correct / total} per k; an Error when nothing was processed.
  Metrics compute_metrics() override;
  /// Clears the counts.
  void reset() override;
  /// {"correct": [...], "total": n}.
  nlohmann::json results() const override;
  /// Adds another process's counts.
  void merge_results(const nlohmann::json& results) override;

 private:
  std::vector<int64_t> topk_;
  std::vector<int64_t> correct_;
  int64_t total_ = 0;
};

}  // namespace mmhook
