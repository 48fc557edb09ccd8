#pragma once
/// @file
/// `CNNClassifier`: per entry of `channels`, Conv2d(3x3, no padding)[, BatchNorm2d], ReLU,
/// MaxPool2d(2); then Flatten, Linear(features, hidden), ReLU[, Dropout], Linear(hidden,
/// num_classes); trained with cross-entropy. Defaults give the anchors' CNN: Conv2d(1,32,3),
/// ReLU, MaxPool2d(2), Conv2d(32,64,3), ReLU, MaxPool2d(2), Flatten, Linear(1600,128), ReLU,
/// Linear(128,10).
///
/// Parameter names match this PyTorch module, so state dicts load in Python:
/// ```python
/// class CNNClassifier(nn.Module):   # channels=[32, 64], batch_norm=True
///     def __init__(self):
///         super().__init__()
///         self.conv1 = nn.Conv2d(1, 32, 3); self.bn1 = nn.BatchNorm2d(32)
///         self.conv2 = nn.Conv2d(32, 64, 3); self.bn2 = nn.BatchNorm2d(64)
///         self.fc1 = nn.Linear(1600, 128); self.fc2 = nn.Linear(128, 10)
/// ```
/// (no `bn*` without batch_norm; convolutions keep their bias either way).

#include <cstdint>
#include <vector>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "mmhook/model/base_model.h"

namespace mmhook {

/// Options of CNNClassifier.
struct CNNClassifierOptions {
  /// Input image channels (default 1).
  int64_t in_channels = 1;
  /// Input image height = width (default 28).
  int64_t input_size = 28;
  /// Output channels of each conv block (default {32, 64}).
  std::vector<int64_t> channels = {32, 64};
  /// Width of the hidden fully connected layer (default 128).
  int64_t hidden = 128;
  /// Classes (default 10).
  int64_t num_classes = 10;
  /// BatchNorm2d after each conv (default false).
  bool batch_norm = false;
  /// Dropout probability after the hidden ReLU (default 0: none).
  double dropout = 0.0;
};

/// A small convolutional classifier. Loss mode: {"loss": cross_entropy(logits, targets)};
/// predict mode: {"outputs": logits}.
class CNNClassifier : public BaseModel {
 public:
  /// Builds the layers; an Error when the image shrinks to nothing.
  explicit CNNClassifier(CNNClassifierOptions options = {});
  /// Logits [B, num_classes] of images [B, C, H, W].
  at::Tensor forward(const at::Tensor& inputs);
  /// {"loss": cross-entropy}.
  TensorDict forward_loss(const TensorDict& batch) override;
  /// {"outputs": logits}.
  TensorDict forward_predict(const TensorDict& batch) override;
  /// The options.
  const CNNClassifierOptions& options() const { return options_; }

 private:
  CNNClassifierOptions options_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;
  torch::nn::Linear fc1_{nullptr};
  torch::nn::Linear fc2_{nullptr};
};

}  // namespace mmhook
