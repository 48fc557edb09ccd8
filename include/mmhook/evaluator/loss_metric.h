#pragma once
/// @file
/// `LossMetric`: the dataset mean of a value the model predicts per sample or per batch (a loss,
/// a negative log-likelihood), optionally reported as exp(mean), the perplexity of a mean NLL.

#include <cstdint>
#include <optional>
#include <string>

#include "mmhook/evaluator/metric.h"

namespace mmhook {

/// LossMetric options; the config keys have the same names.
struct LossMetricOptions {
  /// Key of the model's predict outputs to average (default "loss").
  std::string key = "loss";
  /// Report exp(mean) instead of the mean (default false): the perplexity when `key` holds
  /// negative log-likelihoods in nats.
  bool exp = false;
  /// Name of the metric (unset by default: "perplexity" with `exp`, otherwise `mean_<key>`).
  std::optional<std::string> name;
  /// Key prefix (default "": none).
  std::string prefix;
};

/// {name: mean} (or {name: exp(mean)}) of outputs[key] over every sample processed since the last
/// evaluation, weighted so that batches of different sizes give the exact dataset mean:
/// - a tensor with dimensions ([B], [B, T], or [N] flattened) holds one value per element, each
///   of weight 1 (per-token NLLs give the per-token mean, hence the usual perplexity);
/// - a 0-dim tensor is the batch's mean, weighted by the batch size (the leading dimension of the
///   data batch's first tensor that has one; an Error when none has; a batch of 0 samples adds
///   nothing).
///
/// Sums and counts are kept in double precision and gathered across processes. The default name
/// is not `key`: the val/test loops already record every "loss*" output under its own name as
/// the plain mean of the batch means, and would overwrite a metric of that name. "mean_loss"
/// contains "loss", so CheckpointHook and EarlyStoppingHook infer the rule "less"; for
/// "perplexity" give them `rule: "less"`. NaN or inf values propagate to the result (never
/// raise); exp of a mean above ~709 is inf. With nothing processed it logs MMEngine's "got empty
/// results" WARNING and reports no metric (an empty `Metrics`).
class LossMetric : public BaseMetric {
 public:
  /// Checks that `key` and a given `name` are non-empty (invalid-argument Error naming the
  /// option otherwise).
  explicit LossMetric(LossMetricOptions options = {});
  /// Adds one batch's values; a missing key names it and the keys present (invalid-argument
  /// Error).
  void process(const TensorDict& data_batch, const TensorDict& outputs) override;
  /// {name: mean or exp(mean)}; empty (with a WARNING) when nothing was processed.
  Metrics compute_metrics() override;
  /// Clears the sum and the count.
  void reset() override;
  /// {"sum": s, "count": n} (a sum that is not finite as "nan", "inf" or "-inf").
  nlohmann::json results() const override;
  /// Adds another process's sum and count.
  void merge_results(const nlohmann::json& results) override;
  /// The options in use.
  const LossMetricOptions& options() const { return options_; }
  /// The name of the metric (before the prefix).
  const std::string& name() const { return name_; }

 private:
  LossMetricOptions options_;
  std::string name_;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace mmhook
