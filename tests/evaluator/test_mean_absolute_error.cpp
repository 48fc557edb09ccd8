#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "evaluator/metric_test_support.h"
#include "mmhook/config/config_node.h"
#include "mmhook/evaluator/evaluator.h"
#include "mmhook/evaluator/mean_absolute_error.h"

namespace mmhook {
namespace {

using test::dict_of;
using test::error_of;
using test::has;

void process(BaseMetric& m, at::Tensor pred, at::Tensor target) {
  m.process(dict_of("targets", std::move(target)), dict_of("outputs", std::move(pred)));
}

TEST(MeanAbsoluteErrorTest, ExactMeanOverUnevenBatches) {
  MeanAbsoluteError mae;
  // Errors 1, 0, 0, -2: absolute values sum to 3 over 4 elements.
  process(mae, torch::tensor({{1.f, 2.f}, {3.f, 4.f}}), torch::tensor({{0.f, 2.f}, {3.f, 6.f}}));
  // The last batch, one sample: errors 0.5, -2, 2.5 over 2 elements.
  process(mae, torch::tensor({{0.5f, -1.f}}), torch::tensor({{0.f, 1.f}}));
  const Metrics m = mae.evaluate(3);
  ASSERT_EQ(m.keys(), std::vector<std::string>{"mae"});
  // (3 + 2.5) / 6, not the mean of the batch means (3/4 + 2.5/2) / 2 = 1.
  EXPECT_DOUBLE_EQ(m.at("mae"), 5.5 / 6.0);
  // [3] predictions against [3, 1] integer targets: errors 0.5, 0, -2.
  process(mae, torch::tensor({1.5f, 2.f, -1.f}), torch::tensor({{1}, {2}, {1}}, torch::kInt64));
  EXPECT_DOUBLE_EQ(mae.evaluate(3).at("mae"), 2.5 / 3.0);
}

TEST(MeanAbsoluteErrorTest, MergedHalvesEqualOnePass) {
  // Absolute errors: 3 over 3, 3 over 2 | 2 over 1, 0.5 over 2.
  const std::vector<std::pair<at::Tensor, at::Tensor>> batches = {
      {torch::tensor({0.5f, 1.5f, -1.f}), torch::zeros({3})},
      {torch::tensor({{2.f}, {0.f}}), torch::tensor({{0.f}, {1.f}})},
      {torch::tensor({3.f}), torch::tensor({1.f})},
      {torch::tensor({0.25f, 0.75f}), torch::tensor({0.5f, 0.5f})}};
  MeanAbsoluteError one;
  MeanAbsoluteError first;
  MeanAbsoluteError second;
  for (size_t i = 0; i < batches.size(); ++i) {
    process(one, batches[i].first, batches[i].second);
    process(i < 2 ? first : second, batches[i].first, batches[i].second);
  }
  EXPECT_EQ(second.results(), (nlohmann::json{{"sum", 2.5}, {"count", 3}}));
  MeanAbsoluteError merged;
  merged.merge_results(nlohmann::json::parse(first.results().dump()));
  merged.merge_results(nlohmann::json::parse(second.results().dump()));
  const double expected = 8.5 / 8.0;  // not (6/5 + 2.5/3) / 2
  EXPECT_DOUBLE_EQ(merged.evaluate(4).at("mae"), expected);
  EXPECT_DOUBLE_EQ(one.evaluate(4).at("mae"), expected);
  const Error e = error_of([&] { merged.merge_results({{"total", 1}}); });
  EXPECT_TRUE(has(e.what(), "MeanAbsoluteError")) << e.what();
}

TEST(MeanAbsoluteErrorTest, NanAndInfPropagate) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  MeanAbsoluteError mae;
  process(mae, torch::tensor({nan, 1.0}), torch::tensor({0.0, 0.0}));
  EXPECT_TRUE(std::isnan(mae.evaluate(2).at("mae")));
  process(mae, torch::tensor({-inf, 1.0}), torch::tensor({0.0, 0.0}));
  EXPECT_EQ(mae.results().at("sum"), "inf");
  MeanAbsoluteError merged;
  merged.merge_results(nlohmann::json::parse(mae.results().dump()));
  EXPECT_EQ(merged.evaluate(2).at("mae"), inf);
}

TEST(MeanAbsoluteErrorTest, NothingProcessedWarnsAndReportsNoMetric) {
  test::LogCapture log;
  MeanAbsoluteError mae;
  EXPECT_TRUE(mae.evaluate(0).empty());
  EXPECT_TRUE(log.contains("MeanAbsoluteError got empty results"));
}

TEST(MeanAbsoluteErrorTest, RejectsMismatchedShapesAndMissingKeys) {
  MeanAbsoluteError mae;
  const Error shape = error_of([&] { process(mae, torch::zeros({4, 2}), torch::zeros({4, 3})); });
  for (const char* part :
       {"MeanAbsoluteError", "outputs['outputs']", "data_batch['targets']", "[4, 2]", "[4, 3]"})
    EXPECT_TRUE(has(shape.what(), part)) << part << " not in: " << shape.what();
  const Error missing = error_of([&] {
    mae.process(dict_of("targets", torch::zeros({2})), dict_of("pred", torch::zeros({2})));
  });
  for (const char* part : {"MeanAbsoluteError", "'outputs'", "pred_key", "'pred'"})
    EXPECT_TRUE(has(missing.what(), part)) << part << " not in: " << missing.what();
  EXPECT_THROW(MeanAbsoluteError(MeanAbsoluteErrorOptions{"", "targets", ""}), Error);
}

TEST(MeanAbsoluteErrorTest, BuildsFromConfig) {
  auto built = metric_registry().build(ConfigNode(
      {{"type", "MeanAbsoluteError"}, {"pred_key", "pred"}, {"target_key", "y"}, {"prefix", "val"}},
      "val_evaluator"));
  const auto* mae = dynamic_cast<const MeanAbsoluteError*>(built.get());
  ASSERT_NE(mae, nullptr);
  EXPECT_EQ(mae->options().pred_key, "pred");
  EXPECT_EQ(mae->options().target_key, "y");
  built->process(dict_of("y", torch::tensor({1.f})), dict_of("pred", torch::tensor({-2.f})));
  EXPECT_EQ(built->evaluate(1).at("val/mae"), 3.0);

  const Error empty = error_of([] {
    metric_registry().build(
        ConfigNode({{"type", "MeanAbsoluteError"}, {"pred_key", ""}}, "test_evaluator"));
  });
  EXPECT_EQ(empty.code(), Code::kConfig);
  EXPECT_TRUE(has(empty.what(), "test_evaluator: MeanAbsoluteError.pred_key")) << empty.what();
  const Error wrong_type = error_of([] {
    metric_registry().build(
        ConfigNode({{"type", "MeanAbsoluteError"}, {"target_key", {"y"}}}, "test_evaluator"));
  });
  EXPECT_TRUE(has(wrong_type.what(), "test_evaluator.target_key")) << wrong_type.what();
}

}  // namespace
}  // namespace mmhook
