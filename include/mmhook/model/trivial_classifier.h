#pragma once
/// @file
/// `TrivialClassifier`: one parameter broadcast to the logits — the "trivial" model of the
/// performance anchors, whose compute is negligible so a training loop measures everything but
/// the model.

#include <cstdint>

#include "mmhook/model/base_model.h"

namespace mmhook {

/// logits[b] = `logits` for every sample b (inputs are ignored except for the batch size).
/// Loss mode: {"loss": cross_entropy(logits, targets)}; predict mode: {"outputs": logits}.
/// The one parameter is `logits` [num_classes], initialised to zeros.
class TrivialClassifier : public BaseModel {
 public:
  /// `num_classes` must be > 0.
  explicit TrivialClassifier(int64_t num_classes = 10);
  /// The parameter expanded to [B, num_classes], B = inputs.size(0).
  at::Tensor forward(const at::Tensor& inputs);
  /// {"loss": cross-entropy}.
  TensorDict forward_loss(const TensorDict& batch) override;
  /// {"outputs": logits}.
  TensorDict forward_predict(const TensorDict& batch) override;

 private:
  at::Tensor logits_;
};

}  // namespace mmhook
