#include <gtest/gtest.h>
#include <torch/types.h>

#include "mmhook/evaluator/accuracy.h"
#include "mmhook/evaluator/evaluator.h"
#include "mmhook/evaluator/toy_metric.h"

namespace mmhook {
namespace {

TensorDict batch_of(at::Tensor targets) {
  TensorDict b;
  b.set("targets", std::move(targets));
  return b;
}
TensorDict outputs_of(at::Tensor logits) {
  TensorDict o;
  o.set("outputs", std::move(logits));
  return o;
}

TEST(AccuracyTest, TopKFractions) {
  Accuracy acc({1, 2});
  // Rows: top-1 / top-2 classes are (1 / 1,2), (0 / 0,2), (2 / 2,1), (1 / 1,0).
  at::Tensor logits = torch::tensor(
      {{0.1f, 0.7f, 0.2f}, {0.6f, 0.1f, 0.3f}, {0.1f, 0.3f, 0.6f}, {0.4f, 0.5f, 0.1f}});
  acc.process(batch_of(torch::tensor({1, 2, 1, 2}, torch::kInt64)), outputs_of(logits));
  // top1: row 0 only -> 1/4; top2: rows 0, 1, 2 -> 3/4.
  Metrics m = acc.evaluate(4);
  ASSERT_EQ(m.keys(), (std::vector<std::string>{"accuracy/top1", "accuracy/top2"}));
  EXPECT_DOUBLE_EQ(m.at("accuracy/top1"), 0.25);
  EXPECT_DOUBLE_EQ(m.at("accuracy/top2"), 0.75);
}

TEST(AccuracyTest, AccumulatesBatchesAndResets) {
  Accuracy acc({1}, "");
  acc.process(batch_of(torch::tensor({0, 1}, torch::kInt64)),
              outputs_of(torch::tensor({{2.f, 1.f}, {3.f, 1.f}})));
  acc.process(batch_of(torch::tensor({1}, torch::kInt64)), outputs_of(torch::tensor({{0.f, 1.f}})));
  Metrics m = acc.evaluate(3);
  EXPECT_DOUBLE_EQ(m.at("top1"), 2.0 / 3.0);
  acc.process(batch_of(torch::tensor({1}, torch::kInt64)), outputs_of(torch::tensor({{0.f, 1.f}})));
  EXPECT_DOUBLE_EQ(acc.evaluate(1).at("top1"), 1.0);
  EXPECT_THROW(acc.evaluate(0), Error);  // nothing processed
}

TEST(AccuracyTest, RejectsBadInputs) {
  EXPECT_THROW(Accuracy({0}), Error);
  Accuracy acc;
  EXPECT_THROW(
      acc.process(batch_of(torch::tensor({1, 2}, torch::kInt64)), outputs_of(torch::zeros({3, 4}))),
      Error);
  EXPECT_THROW(acc.process(TensorDict(), outputs_of(torch::zeros({3, 4}))), Error);
}

TEST(ToyMetricTest, CyclesThroughValues) {
  ToyMetric m({0.1, 0.5, 0.9});
  std::vector<double> seen;
  seen.reserve(5);
  for (int k = 0; k < 5; ++k) seen.push_back(m.evaluate(12).at("acc"));
  EXPECT_EQ(seen, (std::vector<double>{0.1, 0.5, 0.9, 0.1, 0.5}));
  ToyMetric ones;
  EXPECT_DOUBLE_EQ(ones.evaluate(1).at("acc"), 1.0);
  EXPECT_DOUBLE_EQ(ones.evaluate(1).at("acc"), 1.0);
  ToyMetric prefixed({}, "test");
  EXPECT_EQ(prefixed.evaluate(1).keys(), (std::vector<std::string>{"test/acc"}));
}

TEST(EvaluatorTest, MergesMetricsAndRejectsDuplicates) {
  Evaluator ev(
      {std::make_shared<ToyMetric>(std::vector<double>{0.3}), std::make_shared<Accuracy>()});
  ev.set_dataset_meta({{"classes", {"a", "b"}}});
  EXPECT_EQ(ev.metrics()[0]->dataset_meta()["classes"][1], "b");
  ev.process(batch_of(torch::tensor({1}, torch::kInt64)), outputs_of(torch::tensor({{0.f, 1.f}})));
  Metrics m = ev.evaluate(1);
  EXPECT_EQ(m.keys(), (std::vector<std::string>{"acc", "accuracy/top1"}));
  EXPECT_DOUBLE_EQ(m.at("acc"), 0.3);
  EXPECT_DOUBLE_EQ(m.at("accuracy/top1"), 1.0);

  Evaluator dup({std::make_shared<ToyMetric>(), std::make_shared<ToyMetric>()});
  try {
    dup.evaluate(1);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'acc'"), std::string::npos) << e.what();
  }
}

TEST(EvaluatorTest, BuildFromConfig) {
  auto one = build_evaluator(nlohmann::json{{"type", "Accuracy"}, {"topk", {1, 5}}});
  ASSERT_EQ(one->metrics().size(), 1u);
  EXPECT_EQ(one->metrics()[0]->prefix(), "accuracy");
  auto single_k = build_evaluator(nlohmann::json{{"type", "Accuracy"}, {"topk", 3}});
  EXPECT_EQ(single_k->metrics().size(), 1u);
  auto list = build_evaluator(nlohmann::json::array(
      {{{"type", "ToyMetric"}, {"values", {0.5}}}, {{"type", "ToyMetric"}, {"prefix", "test"}}}));
  ASSERT_EQ(list->metrics().size(), 2u);
  Metrics m = list->evaluate(1);
  EXPECT_DOUBLE_EQ(m.at("acc"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("test/acc"), 1.0);
  auto wrapped =
      build_evaluator(nlohmann::json{{"type", "Evaluator"}, {"metrics", {{"type", "ToyMetric"}}}});
  EXPECT_EQ(wrapped->metrics().size(), 1u);
  auto from_node = build_evaluator(ConfigNode({{"type", "ToyMetric"}}, "test_evaluator"));
  EXPECT_EQ(from_node->metrics().size(), 1u);

  try {
    build_evaluator(nlohmann::json::array({{{"type", "ToyMetric"}}, {{"type", "Acuracy"}}}),
                    "val_evaluator");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("val_evaluator[1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Accuracy"), std::string::npos) << msg;
  }
  // A constructor's check becomes a config Error at the JSON path.
  try {
    build_evaluator(nlohmann::json{{"type", "Accuracy"}, {"topk", {1, 0}}}, "val_evaluator");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_NE(std::string(e.what()).find("val_evaluator: Accuracy.topk"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(build_evaluator(nlohmann::json{{"type", "ToyMetric"}, {"valuez", {1}}}), Error);
  EXPECT_THROW(build_evaluator(nlohmann::json("Accuracy")), Error);
}

}  // namespace
}  // namespace mmhook
