#include "mmhook/evaluator/accuracy.h"

#include <algorithm>

#include <ATen/core/Tensor.h>

#include "evaluator/builtin_metrics.h"

namespace mmhook {

Accuracy::Accuracy(std::vector<int64_t> topk, std::string prefix)
    : BaseMetric(std::move(prefix)), topk_(std::move(topk)) {
  MMHOOK_CHECK(!topk_.empty(), "Accuracy.topk must not be empty");
  for (int64_t k : topk_) MMHOOK_CHECK(k >= 1, "Accuracy.topk values must be >= 1, got ", k);
  correct_.assign(topk_.size(), 0);
}

void Accuracy::process(const TensorDict& data_batch, const TensorDict& outputs) {
  const at::Tensor* scores_p = outputs.find("outputs");
  MMHOOK_CHECK(scores_p != nullptr, "Accuracy: the model outputs have no 'outputs' entry");
  const at::Tensor* targets_p = data_batch.find("targets");
  MMHOOK_CHECK(targets_p != nullptr, "Accuracy: the batch has no 'targets' entry");
  at::Tensor scores = scores_p->detach().to(at::kCPU).to(at::kFloat);
  at::Tensor targets = targets_p->detach().to(at::kCPU).to(at::kLong).reshape({-1});
  MMHOOK_CHECK(scores.dim() == 2, "Accuracy: outputs must be [batch, classes], got ",
               scores.sizes());
  MMHOOK_CHECK(scores.size(0) == targets.size(0), "Accuracy: ", scores.size(0), " predictions but ",
               targets.size(0), " targets");
  // A label the scores cannot name never matches: without this check a dataset whose labels do
  // not fit the model reports accuracy 0 and the run succeeds.
  if (targets.numel() > 0) {
    const at::Tensor bad = targets.lt(0).bitwise_or(targets.ge(scores.size(1))).nonzero();
    if (bad.numel() > 0) {
      const int64_t pos = bad[0][0].item<int64_t>();
      MMHOOK_THROW(Code::kInvalidArgument, "Accuracy: target ", targets[pos].item<int64_t>(),
                   " at batch position ", pos, " is outside the ", scores.size(1),
                   " classes the model scores [0, ", scores.size(1),
                   "): the dataset's labels do not fit the model");
    }
  }
  const int64_t maxk =
      std::min<int64_t>(*std::max_element(topk_.begin(), topk_.end()), scores.size(1));
  at::Tensor pred = std::get<1>(scores.topk(maxk, /*dim=*/1));
  at::Tensor hits = pred.eq(targets.view({-1, 1}));
  for (size_t i = 0; i < topk_.size(); ++i) {
    const int64_t k = std::min<int64_t>(topk_[i], maxk);
    correct_[i] += hits.narrow(1, 0, k).any(1).sum().item<int64_t>();
  }
  total_ += targets.size(0);
}

Metrics Accuracy::compute_metrics() {
  MMHOOK_CHECK_CODE(total_ > 0, Code::kFailedPrecondition,
                    "Accuracy: no samples were processed before evaluate()");
  Metrics out;
  for (size_t i = 0; i < topk_.size(); ++i)
    out.set("top" + std::to_string(topk_[i]),
            static_cast<double>(correct_[i]) / static_cast<double>(total_));
  return out;
}

nlohmann::json Accuracy::results() const { return {{"correct", correct_}, {"total", total_}}; }

void Accuracy::merge_results(const nlohmann::json& results) {
  const auto correct = results.at("correct").get<std::vector<int64_t>>();
  MMHOOK_CHECK(correct.size() == correct_.size(), "Accuracy: gathered results have ",
               correct.size(), " top-k counts, this metric has ", correct_.size());
  for (size_t i = 0; i < correct.size(); ++i) correct_[i] += correct[i];
  total_ += results.at("total").get<int64_t>();
}

void Accuracy::reset() {
  std::fill(correct_.begin(), correct_.end(), 0);
  total_ = 0;
}

void detail::register_accuracy(Registry<BaseMetric>& registry) {
  registry.add("Accuracy", [](const ConfigNode& cfg) -> std::shared_ptr<BaseMetric> {
    std::vector<int64_t> topk;
    if (cfg.has("topk") && cfg.json().at("topk").is_number())
      topk = {cfg.require<int64_t>("topk")};
    else
      topk = cfg.get<std::vector<int64_t>>("topk", {1});
    std::string prefix = cfg.get<std::string>("prefix", "accuracy");
    return std::make_shared<Accuracy>(std::move(topk), std::move(prefix));
  });
}

}  // namespace mmhook
