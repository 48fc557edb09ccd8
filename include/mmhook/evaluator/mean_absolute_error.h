#pragma once
/// @file
/// `MeanAbsoluteError`: the mean of |prediction - target| over every element of every sample
/// evaluated (the element-wise L1 of `torch.nn.functional.l1_loss`, over the whole dataset).

#include <cstdint>
#include <string>

#include "mmhook/evaluator/metric.h"

namespace mmhook {

/// MeanAbsoluteError options; the config keys have the same names.
struct MeanAbsoluteErrorOptions {
  /// Key of the model's predict outputs holding the predictions (default "outputs", what every
  /// built-in model returns).
  std::string pred_key = "outputs";
  /// Key of the data batch holding the targets (default "targets", what every built-in dataset
  /// yields).
  std::string target_key = "targets";
  /// Key prefix (default "": the metric is "mae"; "val" gives "val/mae").
  std::string prefix;
};

/// {"mae": Σ|pred - target| / n} over the n elements of every sample processed since the last
/// evaluation. Per batch, outputs[pred_key] and data_batch[target_key] must have the same shape
/// once each sample is flattened ([B] and [B, 1] match); sums and counts are kept in double
/// precision, so batches of different sizes give the exact dataset mean. NaN or inf in the
/// predictions or targets propagate to the result (as in MMEngine, where the metric's arithmetic
/// meets them), they never raise. With nothing processed it logs MMEngine's "got empty results"
/// WARNING and reports no metric (an empty `Metrics`), so no best checkpoint or early-stopping
/// step follows from it. CheckpointHook and EarlyStoppingHook cannot infer a rule for "mae":
/// give them `rule: "less"` (or add the key to CheckpointHook's `less_keys`).
class MeanAbsoluteError : public BaseMetric {
 public:
  /// Checks that both keys are non-empty (invalid-argument Error naming the option otherwise).
  explicit MeanAbsoluteError(MeanAbsoluteErrorOptions options = {});
  /// Adds one batch's absolute errors; a missing key names it and the keys present, a shape
  /// mismatch names both keys and both shapes (invalid-argument Errors).
  void process(const TensorDict& data_batch, const TensorDict& outputs) override;
  /// {"mae": sum / count}; empty (with a WARNING) when nothing was processed.
  Metrics compute_metrics() override;
  /// Clears the sum and the count.
  void reset() override;
  /// {"sum": s, "count": n} (a sum that is not finite as "nan", "inf" or "-inf").
  nlohmann::json results() const override;
  /// Adds another process's sum and count.
  void merge_results(const nlohmann::json& results) override;
  /// The options in use.
  const MeanAbsoluteErrorOptions& options() const { return options_; }

 private:
  MeanAbsoluteErrorOptions options_;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace mmhook
