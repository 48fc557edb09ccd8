#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "evaluator/metric_test_support.h"
#include "mmhook/config/config_node.h"
#include "mmhook/data/toy_dataset.h"
#include "mmhook/engine/runner.h"
#include "mmhook/evaluator/evaluator.h"
#include "mmhook/evaluator/mean_squared_error.h"
#include "mmhook/model/toy_model.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using test::dict_of;
using test::error_of;
using test::has;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void process(BaseMetric& m, at::Tensor pred, at::Tensor target) {
  m.process(dict_of("targets", std::move(target)), dict_of("outputs", std::move(pred)));
}

TEST(MeanSquaredErrorTest, ExactMeanOverUnevenBatches) {
  MeanSquaredError mse;
  // Errors 1, 0, 0, -2: squares sum to 5 over 4 elements.
  process(mse, torch::tensor({{1.f, 2.f}, {3.f, 4.f}}), torch::tensor({{0.f, 2.f}, {3.f, 6.f}}));
  // The last batch, one sample: errors 0.5, -2, squares 4.25 over 2 elements.
  process(mse, torch::tensor({{0.5f, -1.f}}), torch::tensor({{0.f, 1.f}}));
  const Metrics m = mse.evaluate(3);
  ASSERT_EQ(m.keys(), std::vector<std::string>{"mse"});
  // (5 + 4.25) / 6, not the mean of the batch means (5/4 + 4.25/2) / 2 = 1.6875.
  EXPECT_DOUBLE_EQ(m.at("mse"), 9.25 / 6.0);
}

TEST(MeanSquaredErrorTest, ComparesSamplesFlattened) {
  MeanSquaredError mse;
  // [3] float predictions against [3, 1] integer targets: errors 0.5, 0, -2.
  process(mse, torch::tensor({1.5f, 2.f, -1.f}), torch::tensor({{1}, {2}, {1}}, torch::kInt64));
  EXPECT_DOUBLE_EQ(mse.evaluate(3).at("mse"), 4.25 / 3.0);
  // [2, 2, 2] against [2, 4]: errors 0..7, squares sum to 140.
  process(mse, torch::arange(8, torch::kFloat64).view({2, 2, 2}), torch::zeros({2, 4}));
  EXPECT_DOUBLE_EQ(mse.evaluate(2).at("mse"), 140.0 / 8.0);
}

TEST(MeanSquaredErrorTest, KeysPrefixAndReset) {
  MeanSquaredErrorOptions o;
  o.pred_key = "pred";
  o.target_key = "y";
  o.prefix = "val";
  MeanSquaredError mse(o);
  mse.process(dict_of("y", torch::tensor({1.f, 2.f})), dict_of("pred", torch::tensor({2.f, 2.f})));
  const Metrics first = mse.evaluate(2);
  ASSERT_EQ(first.keys(), std::vector<std::string>{"val/mse"});
  EXPECT_DOUBLE_EQ(first.at("val/mse"), 0.5);
  // evaluate() reset the sums: the next evaluation sees only the next batch.
  mse.process(dict_of("y", torch::tensor({0.f})), dict_of("pred", torch::tensor({3.f})));
  EXPECT_DOUBLE_EQ(mse.evaluate(1).at("val/mse"), 9.0);
}

TEST(MeanSquaredErrorTest, MergedHalvesEqualOnePass) {
  // Squares: 3.5 over 3, 5 over 2 | 4 over 1, 0.125 over 2 (exact in binary).
  const std::vector<std::pair<at::Tensor, at::Tensor>> batches = {
      {torch::tensor({0.5f, 1.5f, -1.f}), torch::zeros({3})},
      {torch::tensor({{2.f}, {0.f}}), torch::tensor({{0.f}, {1.f}})},
      {torch::tensor({3.f}), torch::tensor({1.f})},
      {torch::tensor({0.25f, 0.75f}), torch::tensor({0.5f, 0.5f})}};
  MeanSquaredError one;
  MeanSquaredError first;
  MeanSquaredError second;
  for (size_t i = 0; i < batches.size(); ++i) {
    process(one, batches[i].first, batches[i].second);
    process(i < 2 ? first : second, batches[i].first, batches[i].second);
  }
  EXPECT_EQ(first.results(), (nlohmann::json{{"sum", 8.5}, {"count", 5}}));
  // Through text, as the gathering across processes sends them.
  MeanSquaredError merged;
  merged.merge_results(nlohmann::json::parse(first.results().dump()));
  merged.merge_results(nlohmann::json::parse(second.results().dump()));
  const double expected = 12.625 / 8.0;  // not (8.5/5 + 4.125/3) / 2
  EXPECT_DOUBLE_EQ(merged.evaluate(4).at("mse"), expected);
  EXPECT_DOUBLE_EQ(one.evaluate(4).at("mse"), expected);

  EXPECT_THROW(merged.merge_results({{"sum", 1.0}}), Error);
  const Error e = error_of([&] { merged.merge_results({{"sum", "many"}, {"count", 1}}); });
  EXPECT_TRUE(has(e.what(), "MeanSquaredError")) << e.what();
  EXPECT_THROW(merged.merge_results({{"sum", 1.0}, {"count", -1}}), Error);
}

TEST(MeanSquaredErrorTest, NanAndInfPropagateAndAreGathered) {
  MeanSquaredError with_nan;
  process(with_nan, torch::tensor({kNaN, 2.0}), torch::tensor({1.0, 2.0}));
  EXPECT_EQ(with_nan.results().at("sum"), "nan");
  MeanSquaredError merged;
  merged.merge_results(nlohmann::json::parse(with_nan.results().dump()));
  EXPECT_TRUE(std::isnan(merged.evaluate(2).at("mse")));
  EXPECT_TRUE(std::isnan(with_nan.evaluate(2).at("mse")));

  MeanSquaredError with_inf;
  process(with_inf, torch::tensor({kInf, 0.0}), torch::tensor({0.0, 0.0}));
  EXPECT_EQ(with_inf.results().at("sum"), "inf");
  merged.merge_results(nlohmann::json::parse(with_inf.results().dump()));
  EXPECT_EQ(merged.evaluate(2).at("mse"), kInf);
  // inf - inf is NaN.
  process(with_inf, torch::tensor({kInf}), torch::tensor({kInf}));
  EXPECT_TRUE(std::isnan(with_inf.evaluate(3).at("mse")));
}

TEST(MeanSquaredErrorTest, NothingProcessedWarnsAndReportsNoMetric) {
  test::LogCapture log;
  MeanSquaredError mse;
  EXPECT_TRUE(mse.evaluate(0).empty());
  EXPECT_TRUE(log.contains("MeanSquaredError got empty results"));
  // A batch without samples adds nothing either.
  process(mse, torch::zeros({0, 3}), torch::zeros({0, 3}));
  EXPECT_TRUE(mse.evaluate(0).empty());
}

TEST(MeanSquaredErrorTest, ShapeMismatchNamesMetricKeysAndShapes) {
  MeanSquaredError mse;
  const Error e = error_of([&] { process(mse, torch::zeros({2, 3}), torch::zeros({2, 2})); });
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  for (const char* part :
       {"MeanSquaredError", "outputs['outputs']", "data_batch['targets']", "[2, 3]", "[2, 2]"})
    EXPECT_TRUE(has(e.what(), part)) << part << " not in: " << e.what();
  const Error batch = error_of([&] { process(mse, torch::zeros({3}), torch::zeros({2})); });
  EXPECT_TRUE(has(batch.what(), "[3]") && has(batch.what(), "[2]")) << batch.what();
  // The rejected batches added nothing.
  process(mse, torch::tensor({2.f}), torch::tensor({0.f}));
  EXPECT_DOUBLE_EQ(mse.evaluate(1).at("mse"), 4.0);
}

TEST(MeanSquaredErrorTest, MissingKeyNamesItAndTheKeysPresent) {
  MeanSquaredErrorOptions o;
  o.pred_key = "pred";
  MeanSquaredError mse(o);
  TensorDict outputs;
  outputs.set("outputs", torch::zeros({2}));
  outputs.set("loss", torch::zeros({}));
  const Error e = error_of([&] { mse.process(dict_of("targets", torch::zeros({2})), outputs); });
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  for (const char* part : {"MeanSquaredError", "'pred'", "pred_key", "'outputs', 'loss'"})
    EXPECT_TRUE(has(e.what(), part)) << part << " not in: " << e.what();

  MeanSquaredError defaults;
  const Error t = error_of([&] {
    defaults.process(dict_of("labels", torch::zeros({2})), dict_of("outputs", torch::zeros({2})));
  });
  for (const char* part : {"data_batch", "'targets'", "target_key", "'labels'"})
    EXPECT_TRUE(has(t.what(), part)) << part << " not in: " << t.what();
}

TEST(MeanSquaredErrorTest, BuildsFromConfig) {
  auto built = metric_registry().build(ConfigNode({{"type", "MeanSquaredError"}}, "val_evaluator"));
  const auto* mse = dynamic_cast<const MeanSquaredError*>(built.get());
  ASSERT_NE(mse, nullptr);
  EXPECT_EQ(mse->options().pred_key, "outputs");
  EXPECT_EQ(mse->options().target_key, "targets");
  EXPECT_EQ(mse->prefix(), "");

  auto custom = metric_registry().build(ConfigNode(
      {{"type", "MeanSquaredError"}, {"pred_key", "pred"}, {"target_key", "y"}, {"prefix", "val"}},
      "val_evaluator"));
  custom->process(dict_of("y", torch::tensor({1.f})), dict_of("pred", torch::tensor({4.f})));
  EXPECT_EQ(custom->evaluate(1).at("val/mse"), 9.0);

  const auto config_error = [](const nlohmann::json& cfg) {
    return error_of([&] { build_evaluator(cfg, "val_evaluator"); });
  };
  const Error wrong_type = config_error({{"type", "MeanSquaredError"}, {"pred_key", 3}});
  EXPECT_EQ(wrong_type.code(), Code::kConfig);
  EXPECT_TRUE(has(wrong_type.what(), "val_evaluator.pred_key")) << wrong_type.what();
  const Error empty = config_error({{"type", "MeanSquaredError"}, {"target_key", ""}});
  EXPECT_EQ(empty.code(), Code::kConfig);
  EXPECT_TRUE(has(empty.what(), "val_evaluator: MeanSquaredError.target_key")) << empty.what();
  const Error unknown = config_error({{"type", "MeanSquaredError"}, {"pred_keys", "pred"}});
  EXPECT_TRUE(has(unknown.what(), "val_evaluator.pred_keys")) << unknown.what();
  EXPECT_TRUE(has(unknown.what(), "'pred_key'")) << unknown.what();
  const Error in_list = config_error(nlohmann::json::array(
      {{{"type", "MeanAbsoluteError"}}, {{"type", "MeanSquaredError"}, {"prefix", 1}}}));
  EXPECT_TRUE(has(in_list.what(), "val_evaluator[1].prefix")) << in_list.what();
}

// The default keys are those the built-in ToyModel and ToyDataset fill: a validation run needs no
// key options, and the metrics reach the loop's results through the Evaluator (the weighting of
// uneven batches is checked above with hand-computed tensors).
TEST(MeanSquaredErrorTest, DefaultsFitTheBuiltInModelAndDatasetInAValidationRun) {
  testing::TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["val_dataloader"]["dataset"]["num_samples"] = 10;
  cfg["val_evaluator"] =
      nlohmann::json::array({{{"type", "MeanSquaredError"}}, {{"type", "MeanAbsoluteError"}}});
  Runner runner(cfg);
  const Metrics m = runner.val();

  ToyModel model;
  const ToyDataset dataset(10);
  double squares = 0;
  double absolutes = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const TensorDict sample = dataset.get(i, 0);
    const double error = model.forward(sample.at("inputs").unsqueeze(0)).item<double>() -
                         sample.at("targets").item<double>();
    squares += error * error;
    absolutes += std::abs(error);
  }
  ASSERT_TRUE(m.contains("mse") && m.contains("mae"));
  EXPECT_NEAR(m.at("mse"), squares / 10.0, 1e-6);
  EXPECT_NEAR(m.at("mae"), absolutes / 10.0, 1e-6);
}

}  // namespace
}  // namespace mmhook
