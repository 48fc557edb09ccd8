#include "mmhook/model/mlp_classifier.h"

#include <torch/types.h>

namespace mmhook {

MLPClassifier::MLPClassifier(MLPClassifierOptions options)
    : BaseModel("MLPClassifier"), options_(std::move(options)) {
  MMHOOK_CHECK(options_.in_channels > 0, "MLPClassifier.in_channels must be > 0, got ",
               options_.in_channels);
  MMHOOK_CHECK(options_.num_classes > 0, "MLPClassifier.num_classes must be > 0, got ",
               options_.num_classes);
  MMHOOK_CHECK(options_.dropout >= 0.0 && options_.dropout < 1.0,
               "MLPClassifier.dropout must be in [0, 1), got ", options_.dropout);
  int64_t in = options_.in_channels;
  for (size_t i = 0; i < options_.hidden_dims.size(); ++i) {
    const int64_t out = options_.hidden_dims[i];
    MMHOOK_CHECK(out > 0, "MLPClassifier.hidden_dims[", i, "] must be > 0, got ", out);
    const std::string n = std::to_string(i + 1);
    linears_.push_back(register_module("linear" + n, torch::nn::Linear(in, out)));
    if (options_.batch_norm) bns_.push_back(register_module("bn" + n, torch::nn::BatchNorm1d(out)));
    in = out;
  }
  linears_.push_back(register_module("linear" + std::to_string(options_.hidden_dims.size() + 1),
                                     torch::nn::Linear(in, options_.num_classes)));
}

at::Tensor MLPClassifier::forward(const at::Tensor& inputs) {
  at::Tensor x = inputs.flatten(1);
  const size_t hidden = linears_.size() - 1;
  for (size_t i = 0; i < hidden; ++i) {
    x = linears_[i](x);
    if (options_.batch_norm) x = bns_[i](x);
    x = torch::relu(x);
    if (options_.dropout > 0) x = torch::dropout(x, options_.dropout, is_training());
  }
  return linears_.back()(x);
}

TensorDict MLPClassifier::forward_loss(const TensorDict& batch) {
  at::Tensor logits = forward(batch.at("inputs"));
  TensorDict losses;
  losses.set("loss", classification_loss(logits, batch.at("targets"), "MLPClassifier"));
  return losses;
}

TensorDict MLPClassifier::forward_predict(const TensorDict& batch) {
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

}  // namespace mmhook
