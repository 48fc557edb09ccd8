#pragma once
/// @file
/// `MLPClassifier`: Flatten, then (Linear[, BatchNorm1d], ReLU[, Dropout]) per hidden layer,
/// then a Linear classifier; trained with cross-entropy.
///
/// Parameter names match this PyTorch module, so state dicts load in Python:
/// ```python
/// class MLPClassifier(nn.Module):   # hidden_dims=[256, 128], batch_norm=True
///     def __init__(self):
///         super().__init__()
///         self.linear1 = nn.Linear(784, 256); self.bn1 = nn.BatchNorm1d(256)
///         self.linear2 = nn.Linear(256, 128); self.bn2 = nn.BatchNorm1d(128)
///         self.linear3 = nn.Linear(128, 10)
/// ```
/// (no `bn*` without batch_norm).

#include <cstdint>
#include <vector>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include "mmhook/model/base_model.h"

namespace mmhook {

/// Options of MLPClassifier.
struct MLPClassifierOptions {
  /// Flattened input features (default 784 = 1x28x28).
  int64_t in_channels = 784;
  /// Hidden layer widths (default {256, 128}).
  std::vector<int64_t> hidden_dims = {256, 128};
  /// Classes (default 10).
  int64_t num_classes = 10;
  /// Dropout probability after each hidden ReLU (default 0: none).
  double dropout = 0.0;
  /// BatchNorm1d after each hidden Linear (default false).
  bool batch_norm = false;
};

/// A multi-layer perceptron classifier. Loss mode: {"loss": cross_entropy(logits, targets)};
/// predict mode: {"outputs": logits}.
class MLPClassifier : public BaseModel {
 public:
  /// Builds the layers (PyTorch's default initialisation from the global generator).
  explicit MLPClassifier(MLPClassifierOptions options = {});
  /// Logits [B, num_classes] of inputs [B, ...] (flattened).
  at::Tensor forward(const at::Tensor& inputs);
  /// {"loss": cross-entropy}.
  TensorDict forward_loss(const TensorDict& batch) override;
  /// {"outputs": logits}.
  TensorDict forward_predict(const TensorDict& batch) override;
  /// The options.
  const MLPClassifierOptions& options() const { return options_; }

 private:
  MLPClassifierOptions options_;
  std::vector<torch::nn::Linear> linears_;
  std::vector<torch::nn::BatchNorm1d> bns_;
};

}  // namespace mmhook
