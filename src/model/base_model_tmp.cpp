// TEMPORARY (wip-data branch only): minimal BaseModel::train_step / parse_losses so the model
// subclasses link in isolation. The integrator replaces this file with src/model/base_model.cpp.
#include <torch/torch.h>

#include "mmhook/model/base_model.h"

namespace mmhook {

TensorDict BaseModel::train_step(const TensorDict& /*batch*/, OptimWrapper& /*optim_wrapper*/) {
  MMHOOK_THROW(Code::kFailedPrecondition, "BaseModel::train_step: not available on this branch");
}

TensorDict BaseModel::parse_losses(const TensorDict& losses, at::Tensor* total) {
  TensorDict out;
  at::Tensor sum;
  for (const auto& kv : losses) {
    at::Tensor v = kv.second.mean();
    if (kv.first.find("loss") != std::string::npos) sum = sum.defined() ? sum + v : v;
    out.set(kv.first, v.detach());
  }
  if (!sum.defined()) sum = torch::zeros({});
  out.set_front("loss", sum.detach());
  if (total != nullptr) *total = sum;
  return out;
}

}  // namespace mmhook
