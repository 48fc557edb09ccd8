#include "mmhook/model/cnn_classifier.h"

#include <torch/types.h>

namespace mmhook {

CNNClassifier::CNNClassifier(CNNClassifierOptions options)
    : BaseModel("CNNClassifier"), options_(std::move(options)) {
  MMHOOK_CHECK(options_.in_channels > 0, "CNNClassifier.in_channels must be > 0, got ",
               options_.in_channels);
  MMHOOK_CHECK(!options_.channels.empty(), "CNNClassifier.channels must not be empty");
  MMHOOK_CHECK(options_.hidden > 0, "CNNClassifier.hidden must be > 0, got ", options_.hidden);
  MMHOOK_CHECK(options_.num_classes > 0, "CNNClassifier.num_classes must be > 0, got ",
               options_.num_classes);
  MMHOOK_CHECK(options_.dropout >= 0.0 && options_.dropout < 1.0,
               "CNNClassifier.dropout must be in [0, 1), got ", options_.dropout);
  int64_t in = options_.in_channels;
  int64_t size = options_.input_size;
  for (size_t i = 0; i < options_.channels.size(); ++i) {
    const int64_t out = options_.channels[i];
    MMHOOK_CHECK(out > 0, "CNNClassifier.channels[", i, "] must be > 0, got ", out);
    const std::string n = std::to_string(i + 1);
    convs_.push_back(
        register_module("conv" + n, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3))));
    if (options_.batch_norm) bns_.push_back(register_module("bn" + n, torch::nn::BatchNorm2d(out)));
    size = (size - 2) / 2;  // 3x3 conv without padding, then 2x2 max pool
    MMHOOK_CHECK(size >= 1, "CNNClassifier: input_size ", options_.input_size, " is too small for ",
                 options_.channels.size(), " conv blocks");
    in = out;
  }
  fc1_ = register_module("fc1", torch::nn::Linear(in * size * size, options_.hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(options_.hidden, options_.num_classes));
}

at::Tensor CNNClassifier::forward(const at::Tensor& inputs) {
  at::Tensor x = inputs;
  for (size_t i = 0; i < convs_.size(); ++i) {
    x = convs_[i](x);
    if (options_.batch_norm) x = bns_[i](x);
    x = torch::max_pool2d(torch::relu(x), 2);
  }
  x = torch::relu(fc1_(x.flatten(1)));
  if (options_.dropout > 0) x = torch::dropout(x, options_.dropout, is_training());
  return fc2_(x);
}

TensorDict CNNClassifier::forward_loss(const TensorDict& batch) {
  at::Tensor logits = forward(batch.at("inputs"));
  TensorDict losses;
  losses.set("loss", classification_loss(logits, batch.at("targets"), "CNNClassifier"));
  return losses;
}

TensorDict CNNClassifier::forward_predict(const TensorDict& batch) {
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

}  // namespace mmhook
