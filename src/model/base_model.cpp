#include "mmhook/model/base_model.h"

#include <torch/torch.h>

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

}  // namespace mmhook
