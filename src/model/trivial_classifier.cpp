#include "mmhook/model/trivial_classifier.h"

#include <torch/types.h>

namespace mmhook {

TrivialClassifier::TrivialClassifier(int64_t num_classes) : BaseModel("TrivialClassifier") {
  MMHOOK_CHECK(num_classes > 0, "TrivialClassifier.num_classes must be > 0, got ", num_classes);
  logits_ = register_parameter("logits", torch::zeros({num_classes}));
}

at::Tensor TrivialClassifier::forward(const at::Tensor& inputs) {
  return logits_.unsqueeze(0).expand({inputs.size(0), logits_.size(0)});
}

TensorDict TrivialClassifier::forward_loss(const TensorDict& batch) {
  TensorDict losses;
  losses.set("loss", classification_loss(forward(batch.at("inputs")), batch.at("targets"),
                                         "TrivialClassifier"));
  return losses;
}

TensorDict TrivialClassifier::forward_predict(const TensorDict& batch) {
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

}  // namespace mmhook
