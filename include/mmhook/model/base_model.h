#pragma once
/// @file
/// The model contract (MMEngine's `BaseModel`, docs/design.md §B3.8).
///
/// Override `forward_loss` (mode='loss': a dict of losses) and `forward_predict`
/// (mode='predict': at least "outputs"). `train_step` runs the forward pass inside the optimizer
/// wrapper's context, reduces the losses with `parse_losses` and calls `update_params`;
/// `val_step`/`test_step` return `forward_predict` and never touch gradients.

#include <memory>
#include <string>

#include <torch/nn/module.h>

#include "mmhook/config/registry.h"
#include "mmhook/core/tensor_dict.h"

namespace mmhook {

class OptimWrapper;

/// Base class of every trainable model.
class BaseModel : public torch::nn::Module {
 public:
  /// `name` is the module name shown in logs ("ToyModel").
  explicit BaseModel(std::string name) : torch::nn::Module(std::move(name)) {}
  ~BaseModel() override = default;

  /// mode='loss': named loss tensors (keys containing "loss" are summed into the total).
  virtual TensorDict forward_loss(const TensorDict& batch) = 0;
  /// mode='predict': "outputs" (e.g. logits) and anything else a metric needs.
  virtual TensorDict forward_predict(const TensorDict& batch) = 0;

  /// One optimisation step; returns the log variables, "loss" first.
  virtual TensorDict train_step(const TensorDict& batch, OptimWrapper& optim_wrapper);
  /// Prediction for validation (no gradients).
  virtual TensorDict val_step(const TensorDict& batch) { return forward_predict(batch); }
  /// Prediction for testing (no gradients).
  virtual TensorDict test_step(const TensorDict& batch) { return forward_predict(batch); }
  /// Weight initialisation, called once by `Runner::train()` before loading a checkpoint.
  virtual void init_weights() {}

  /// MMEngine's `parse_losses`: each value is reduced with `.mean()`, `loss` = the sum of the
  /// entries whose key contains "loss", inserted first. The returned tensors are detached except
  /// `*total` (the differentiable total), which is set when non-null.
  static TensorDict parse_losses(const TensorDict& losses, at::Tensor* total);
};

/// The model registry ("ToyModel", "MLPClassifier", "CNNClassifier", "TorchScriptModel", ...).
Registry<BaseModel>& model_registry();

/// Cross-entropy of `logits` [B, C] against class indices `targets` [B], as the classifiers
/// train. When LibTorch refuses the pair, the error says why in the data's terms, naming
/// `model` (e.g. "MLPClassifier: target 255 at batch position 3 is outside the model's 10
/// classes [0, 10)") instead of "Target 255 is out of bounds"; the check costs nothing on the
/// normal path.
at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& targets,
                               const char* model);

}  // namespace mmhook
