#pragma once
/// @file
/// `ToyModel`: the deterministic test fixture of docs/design.md §A8 (MMEngine's test ToyModel).

#include <torch/nn/modules/linear.h>

#include "mmhook/model/base_model.h"

namespace mmhook {

/// out = linear2(linear1(inputs)) with Linear(2,2) and Linear(2,1). Loss mode:
/// {"loss": (targets - out).sum()}; predict mode: {"outputs": out}. Initial weights are fixed
/// (seed-independent): linear1.weight [[0.1, 0.2], [0.3, 0.4]], linear1.bias [0.0, 0.1],
/// linear2.weight [[0.5, -0.5]], linear2.bias [0.2].
class ToyModel : public BaseModel {
 public:
  /// Builds the layers with the fixed weights.
  ToyModel();
  /// linear2(linear1(inputs)).
  at::Tensor forward(const at::Tensor& inputs);
  /// {"loss": (targets - out).sum()}.
  TensorDict forward_loss(const TensorDict& batch) override;
  /// {"outputs": out}.
  TensorDict forward_predict(const TensorDict& batch) override;
  /// Writes the fixed initial weights again.
  void init_weights() override;

 private:
  torch::nn::Linear linear1_{nullptr};
  torch::nn::Linear linear2_{nullptr};
};

}  // namespace mmhook
