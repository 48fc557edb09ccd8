#pragma once
/// @file
/// `TorchScriptModel`: trains a module defined in Python and saved with `torch.jit.save`.
///
/// Contract of the scripted module: `forward(inputs: Tensor) -> Tensor` returns the logits
/// [B, num_classes] of a batch's "inputs"; the loss is `cross_entropy(logits, targets)` with the
/// batch's "targets" (class indices). Its parameters and buffers are registered on this model
/// under the names of the Python module's `state_dict()` ("conv.weight", "bn.running_mean",
/// "head.1.bias"), sharing storage with the scripted module: the optimizer trains them,
/// checkpoints save and resume them like any other model's, and a checkpoint's `state_dict`
/// loads with `module.load_state_dict(...)` in Python. Buffers must be updated in place (as
/// PyTorch's own layers do, e.g. BatchNorm's running statistics); a scripted `self.x = ...`
/// assignment would detach the buffer from this model. `train()`/`eval()` reach the scripted
/// module, so dropout and batch norm switch modes.
///
/// Config: `{"type": "TorchScriptModel", "path": "model.pt", "optimize": false}`. A relative
/// `path` is resolved against the current working directory (like `load_from` and
/// `data_root`). `optimize` (default false) enables the TorchScript graph executor's
/// optimisations; off, every call runs the graph as written, so training and resuming are
/// bit-reproducible.

#include <memory>
#include <string>

#include "mmhook/model/base_model.h"

namespace mmhook {

/// Options of TorchScriptModel.
struct TorchScriptModelOptions {
  /// File written by `torch.jit.save` (relative: against the current working directory).
  std::string path;
  /// Enable the graph executor's optimisations (profiling, fusion); default false.
  bool optimize = false;
};

/// A BaseModel around a scripted (TorchScript) module. Loss mode:
/// {"loss": cross_entropy(forward(inputs), targets)}; predict mode: {"outputs": logits}.
class TorchScriptModel : public BaseModel {
 public:
  /// Loads `options.path`. Errors (kIo) name the file: missing, unreadable, not a TorchScript
  /// archive, or without a `forward` method.
  explicit TorchScriptModel(TorchScriptModelOptions options);
  ~TorchScriptModel() override;
  /// The scripted module's `forward(inputs)`; an Error naming the file unless it returns a Tensor.
  at::Tensor forward(const at::Tensor& inputs);
  /// {"loss": cross-entropy}.
  TensorDict forward_loss(const TensorDict& batch) override;
  /// {"outputs": logits}.
  TensorDict forward_predict(const TensorDict& batch) override;
  /// Sets training mode on this model and on the scripted module.
  void train(bool on = true) override;
  /// The options.
  const TorchScriptModelOptions& options() const { return options_; }

 private:
  struct Impl;
  TorchScriptModelOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmhook
