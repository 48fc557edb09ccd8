#pragma once
/// @file
/// `TorchScriptModel`: trains a module defined in Python and saved with `torch.jit.save`.
///
/// The scripted module's `forward` follows one of two contracts, told apart by its schema when
/// the file is loaded:
/// - **logits** (`TorchScriptContract::kLogits`): `forward(inputs: Tensor) -> Tensor` returns
///   the logits [B, num_classes] of a batch's "inputs"; the loss is
///   `cross_entropy(logits, targets)` with the batch's "targets" (class indices).
/// - **dict** (`TorchScriptContract::kDict`), MMEngine's `BaseModel.forward` (docs/design.md
///   §B3.8): `forward(batch: Dict[str, Tensor], mode: str) -> Dict[str, Tensor]`. `batch` holds
///   every key of the loader's batch ("inputs", "labels", whatever the dataset provides). Mode
///   "loss" returns named losses: `parse_losses` sums every entry whose key contains "loss" (each
///   a floating-point tensor of one element) and logs every entry; mode "predict" returns the
///   outputs the metrics' `process(data_batch, outputs)` receive (the built-in `Accuracy` reads
///   scores [B, classes] under "outputs" and class indices under the batch's "targets"); mode
///   "tensor" returns the raw outputs (`forward_tensor`).
///
/// Parameters after the first two (the first for logits) must have default values. A forward
/// that fits neither contract, or a dict forward not declared to return `Dict[str, Tensor]`, is
/// an Error when the file is loaded; a broken loss dict is an Error naming the mode and the key.
///
/// Its parameters and buffers are registered on this model under the names of the Python
/// module's `state_dict()` ("conv.weight", "bn.running_mean", "head.1.bias"), sharing storage
/// with the scripted module: the optimizer trains them, checkpoints save and resume them like any
/// other model's, and a checkpoint's `state_dict` loads with `module.load_state_dict(...)` in
/// Python. Buffers must be updated in place (as PyTorch's own layers do, e.g. BatchNorm's running
/// statistics); a scripted `self.x = ...` assignment would detach the buffer from this model.
/// `train()`/`eval()` reach the scripted module, so dropout and batch norm switch modes.
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

/// The contract of a scripted module's `forward`, read from its schema.
enum class TorchScriptContract {
  kLogits,  ///< `forward(inputs: Tensor) -> Tensor`: logits, trained with cross-entropy
  kDict,    ///< `forward(batch: Dict[str, Tensor], mode: str) -> Dict[str, Tensor]` (MMEngine's)
};

/// A BaseModel around a scripted (TorchScript) module. Logits contract: loss mode
/// {"loss": cross_entropy(forward(inputs), targets)}, predict mode {"outputs": logits}. Dict
/// contract: what the module's `forward(batch, mode)` returns.
class TorchScriptModel : public BaseModel {
 public:
  /// Loads `options.path` and reads the contract from `forward`'s schema. Errors name the file:
  /// missing, unreadable, not a TorchScript archive, or without a `forward` method (kIo); a
  /// `forward` that fits neither contract, or a dict forward not returning `Dict[str, Tensor]`
  /// (kInvalidArgument, quoting the schema found and the one expected).
  explicit TorchScriptModel(TorchScriptModelOptions options);
  ~TorchScriptModel() override;
  /// The logits contract's `forward(inputs)`; an Error naming the file unless it returns a
  /// Tensor, or when the module has the dict contract.
  at::Tensor forward(const at::Tensor& inputs);
  /// Logits: {"loss": cross-entropy}. Dict: `forward(batch, "loss")`, checked to hold at least one
  /// key containing "loss", each such entry a floating-point tensor of one element, every entry
  /// floating point (all are logged as their mean).
  TensorDict forward_loss(const TensorDict& batch) override;
  /// Logits: {"outputs": logits}. Dict: `forward(batch, "predict")`.
  TensorDict forward_predict(const TensorDict& batch) override;
  /// Mode "tensor", the raw outputs. Logits: {"outputs": logits}. Dict: `forward(batch,
  /// "tensor")`.
  TensorDict forward_tensor(const TensorDict& batch);
  /// The contract read from `forward`'s schema.
  TorchScriptContract contract() const { return contract_; }
  /// Sets training mode on this model and on the scripted module.
  void train(bool on = true) override;
  /// The options.
  const TorchScriptModelOptions& options() const { return options_; }

 private:
  struct Impl;
  /// `forward(batch, mode)` of the dict contract, its result as a TensorDict.
  TensorDict forward_dict(const TensorDict& batch, const char* mode);
  TorchScriptModelOptions options_;
  TorchScriptContract contract_ = TorchScriptContract::kLogits;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmhook
