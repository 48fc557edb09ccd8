#include "mmhook/model/base_model.h"

#include <torch/nn/functional/loss.h>

#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {

TensorDict BaseModel::parse_losses(const TensorDict& losses, at::Tensor* total) {
  TensorDict log_vars;
  at::Tensor sum;
  for (const auto& [key, value] : losses) {
    MMHOOK_CHECK(value.defined(), "loss '", key, "' is an undefined tensor");
    // A 0-dim loss is its own mean (and mean() would add an op and a backward node per step).
    at::Tensor reduced = value.dim() == 0 ? value : value.mean();
    if (key.find("loss") != std::string::npos) sum = sum.defined() ? sum + reduced : reduced;
    log_vars.set(key, reduced.detach());
  }
  MMHOOK_CHECK(sum.defined(), "forward_loss returned no entry whose key contains 'loss'");
  log_vars.set_front("loss", sum.detach());
  if (total != nullptr) *total = sum;
  return log_vars;
}

TensorDict BaseModel::train_step(const TensorDict& batch, OptimWrapper& optim_wrapper) {
  at::Tensor loss;
  TensorDict log_vars;
  {
    auto context = optim_wrapper.optim_context(*this);
    log_vars = parse_losses(forward_loss(batch), &loss);
  }
  optim_wrapper.update_params(loss);
  return log_vars;
}

at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& targets,
                               const char* model) {
  try {
    return torch::nn::functional::cross_entropy(logits, targets);
  } catch (const c10::Error& e) {
    // Diagnosed only after LibTorch refused: labels that do not fit the model come from the
    // dataset, and the message has to say so.
    if (logits.dim() != 2)
      MMHOOK_THROW(Code::kInvalidArgument, model, ": logits must be [batch, classes], got ",
                   logits.sizes());
    if (!at::isFloatingType(logits.scalar_type()))
      MMHOOK_THROW(Code::kInvalidArgument, model, ": logits must be floating point, got ",
                   logits.scalar_type());
    if (targets.dim() != 1 || targets.size(0) != logits.size(0))
      MMHOOK_THROW(Code::kInvalidArgument, model, ": targets must be [", logits.size(0),
                   "] class indices for ", logits.size(0), " logits rows, got shape ",
                   targets.sizes());
    if (!at::isIntegralType(targets.scalar_type(), /*includeBool=*/false))
      MMHOOK_THROW(Code::kInvalidArgument, model, ": targets must be integer class indices, got ",
                   targets.scalar_type());
    const int64_t classes = logits.size(1);
    const at::Tensor t = targets.detach().to(at::kCPU).to(at::kLong);
    const at::Tensor bad = ((t < 0) | (t >= classes)).nonzero();
    if (bad.numel() > 0) {
      const int64_t pos = bad[0][0].item<int64_t>();
      MMHOOK_THROW(Code::kInvalidArgument, model, ": target ", t[pos].item<int64_t>(),
                   " at batch position ", pos, " is outside the model's ", classes, " classes [0, ",
                   classes, "): the dataset's labels do not fit num_classes");
    }
    MMHOOK_THROW(Code::kTorch, model, ": cross_entropy failed: ", e.what_without_backtrace());
  }
}

}  // namespace mmhook
