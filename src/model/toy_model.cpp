#include "mmhook/model/toy_model.h"

#include <ATen/core/grad_mode.h>
#include <torch/types.h>

namespace mmhook {

ToyModel::ToyModel() : BaseModel("ToyModel") {
  linear1_ = register_module("linear1", torch::nn::Linear(2, 2));
  linear2_ = register_module("linear2", torch::nn::Linear(2, 1));
  init_weights();
}

void ToyModel::init_weights() {
  at::NoGradGuard no_grad;
  linear1_->weight.copy_(torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}}));
  linear1_->bias.copy_(torch::tensor({0.0f, 0.1f}));
  linear2_->weight.copy_(torch::tensor({{0.5f, -0.5f}}));
  linear2_->bias.copy_(torch::tensor({0.2f}));
}

at::Tensor ToyModel::forward(const at::Tensor& inputs) { return linear2_(linear1_(inputs)); }

TensorDict ToyModel::forward_loss(const TensorDict& batch) {
  at::Tensor out = forward(batch.at("inputs"));
  TensorDict losses;
  losses.set("loss", (batch.at("targets") - out).sum());
  return losses;
}

TensorDict ToyModel::forward_predict(const TensorDict& batch) {
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

}  // namespace mmhook
