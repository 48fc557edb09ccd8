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
#include "mmhook/evaluator/loss_metric.h"

namespace mmhook {
namespace {

using test::dict_of;
using test::error_of;
using test::has;

// A data batch of `n` samples.
TensorDict batch_of(int64_t n) { return dict_of("inputs", torch::zeros({n, 2})); }

TEST(LossMetricTest, PerSampleValuesOverUnevenBatches) {
  LossMetric metric;
  metric.process(batch_of(3), dict_of("loss", torch::tensor({1.f, 2.f, 3.f})));
  metric.process(batch_of(1), dict_of("loss", torch::tensor({6.f})));
  const Metrics m = metric.evaluate(4);
  ASSERT_EQ(m.keys(), std::vector<std::string>{"mean_loss"});
  // 12 / 4, not the mean of the batch means (2 + 6) / 2.
  EXPECT_DOUBLE_EQ(m.at("mean_loss"), 3.0);
}

TEST(LossMetricTest, PerBatchMeansWeightedByBatchSize) {
  LossMetric metric;
  metric.process(batch_of(4), dict_of("loss", torch::tensor(1.f)));
  // The batch size is the leading dimension of the first tensor that has one.
  TensorDict last;
  last.set("step", torch::tensor(7));
  last.set("inputs", torch::zeros({2, 5}));
  metric.process(last, dict_of("loss", torch::tensor(4.0)));
  // (4 * 1 + 2 * 4) / 6, not (1 + 4) / 2.
  EXPECT_DOUBLE_EQ(metric.evaluate(6).at("mean_loss"), 2.0);

  // A batch without samples adds nothing, even its NaN mean.
  metric.process(batch_of(0), dict_of("loss", torch::tensor(std::nanf(""))));
  metric.process(batch_of(2), dict_of("loss", torch::tensor(0.5f)));
  EXPECT_DOUBLE_EQ(metric.evaluate(2).at("mean_loss"), 0.5);

  const Error e = error_of([&] {
    metric.process(dict_of("step", torch::tensor(1)), dict_of("loss", torch::tensor(1.f)));
  });
  EXPECT_TRUE(has(e.what(), "LossMetric") && has(e.what(), "'loss'") &&
              has(e.what(), "batch dimension"))
      << e.what();
}

TEST(LossMetricTest, PerplexityFromPerTokenNll) {
  LossMetricOptions o;
  o.key = "nll";
  o.exp = true;
  LossMetric metric(o);
  EXPECT_EQ(metric.name(), "perplexity");
  // Per-token NLLs [B, T]: 4 + 2 over 6 tokens, a mean of 1.
  metric.process(batch_of(2), dict_of("nll", torch::tensor({{0.5, 1.5}, {1.0, 1.0}})));
  metric.process(batch_of(1), dict_of("nll", torch::tensor({{2.0, 0.0}})));
  EXPECT_DOUBLE_EQ(metric.evaluate(3).at("perplexity"), std::exp(1.0));
}

TEST(LossMetricTest, NamesAndPrefix) {
  LossMetricOptions o;
  o.key = "nll";
  EXPECT_EQ(LossMetric(o).name(), "mean_nll");
  o.name = "val_nll";
  o.prefix = "val";
  LossMetric named(o);
  named.process(batch_of(1), dict_of("nll", torch::tensor({2.f})));
  EXPECT_EQ(named.evaluate(1).keys(), std::vector<std::string>{"val/val_nll"});
  o.name = "";
  EXPECT_THROW(LossMetric{o}, Error);
  o.name.reset();
  o.key = "";
  EXPECT_THROW(LossMetric{o}, Error);
}

TEST(LossMetricTest, MergedHalvesEqualOnePass) {
  LossMetric one;
  LossMetric first;
  LossMetric second;
  const std::vector<std::pair<int64_t, at::Tensor>> batches = {{3, torch::tensor({1.f, 2.f, 4.f})},
                                                               {2, torch::tensor(0.5f)},
                                                               {2, torch::tensor({8.f, 0.25f})},
                                                               {1, torch::tensor(3.f)}};
  for (size_t i = 0; i < batches.size(); ++i) {
    one.process(batch_of(batches[i].first), dict_of("loss", batches[i].second));
    (i < 2 ? first : second)
        .process(batch_of(batches[i].first), dict_of("loss", batches[i].second));
  }
  EXPECT_EQ(first.results(), (nlohmann::json{{"sum", 8.0}, {"count", 5}}));
  LossMetric merged;
  merged.merge_results(nlohmann::json::parse(first.results().dump()));
  merged.merge_results(nlohmann::json::parse(second.results().dump()));
  const double expected = 19.25 / 8.0;  // not (8/5 + 11.25/3) / 2
  EXPECT_DOUBLE_EQ(merged.evaluate(8).at("mean_loss"), expected);
  EXPECT_DOUBLE_EQ(one.evaluate(8).at("mean_loss"), expected);
  EXPECT_THROW(merged.merge_results({{"sum", nullptr}, {"count", 1}}), Error);
}

TEST(LossMetricTest, NanAndInfPropagate) {
  LossMetricOptions o;
  o.exp = true;
  LossMetric metric(o);
  metric.process(batch_of(2), dict_of("loss", torch::tensor({std::nanf(""), 1.f})));
  EXPECT_EQ(metric.results().at("sum"), "nan");
  EXPECT_TRUE(std::isnan(metric.evaluate(2).at("perplexity")));
  metric.process(batch_of(1), dict_of("loss", torch::tensor({1000.f})));  // exp overflows
  EXPECT_EQ(metric.evaluate(1).at("perplexity"), std::numeric_limits<double>::infinity());
  metric.process(batch_of(1),
                 dict_of("loss", torch::tensor(-std::numeric_limits<float>::infinity())));
  EXPECT_EQ(metric.results().at("sum"), "-inf");
  EXPECT_EQ(metric.evaluate(1).at("perplexity"), 0.0);
}

TEST(LossMetricTest, NothingProcessedWarnsAndReportsNoMetric) {
  test::LogCapture log;
  LossMetric metric;
  EXPECT_TRUE(metric.evaluate(0).empty());
  EXPECT_TRUE(log.contains("LossMetric got empty results"));
}

TEST(LossMetricTest, MissingKeyNamesItAndTheKeysPresent) {
  LossMetric metric;
  const Error e =
      error_of([&] { metric.process(batch_of(1), dict_of("outputs", torch::zeros({1}))); });
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  for (const char* part : {"LossMetric", "'loss'", "(key)", "'outputs'"})
    EXPECT_TRUE(has(e.what(), part)) << part << " not in: " << e.what();
}

TEST(LossMetricTest, BuildsFromConfig) {
  auto built = metric_registry().build(ConfigNode({{"type", "LossMetric"}}, "val_evaluator"));
  const auto* metric = dynamic_cast<const LossMetric*>(built.get());
  ASSERT_NE(metric, nullptr);
  EXPECT_EQ(metric->options().key, "loss");
  EXPECT_FALSE(metric->options().exp);
  EXPECT_EQ(metric->name(), "mean_loss");
  auto ppl = metric_registry().build(
      ConfigNode({{"type", "LossMetric"}, {"key", "nll"}, {"exp", true}}, "val_evaluator"));
  EXPECT_EQ(dynamic_cast<const LossMetric&>(*ppl).name(), "perplexity");
  auto named = metric_registry().build(
      ConfigNode({{"type", "LossMetric"}, {"name", "val_nll"}, {"prefix", "lm"}}, "val_evaluator"));
  named->process(batch_of(2), dict_of("loss", torch::tensor(1.5f)));
  EXPECT_EQ(named->evaluate(2).at("lm/val_nll"), 1.5);

  const auto config_error = [](const nlohmann::json& cfg) {
    return error_of([&] { metric_registry().build(ConfigNode(cfg, "val_evaluator")); });
  };
  const Error exp = config_error({{"type", "LossMetric"}, {"exp", "yes"}});
  EXPECT_EQ(exp.code(), Code::kConfig);
  EXPECT_TRUE(has(exp.what(), "val_evaluator.exp")) << exp.what();
  const Error name = config_error({{"type", "LossMetric"}, {"name", ""}});
  EXPECT_EQ(name.code(), Code::kConfig);
  EXPECT_TRUE(has(name.what(), "val_evaluator: LossMetric.name")) << name.what();
  const Error key = config_error({{"type", "LossMetric"}, {"key", ""}});
  EXPECT_TRUE(has(key.what(), "val_evaluator: LossMetric.key")) << key.what();
  const Error unknown = config_error({{"type", "LossMetric"}, {"keys", "nll"}});
  EXPECT_TRUE(has(unknown.what(), "val_evaluator.keys")) << unknown.what();
}

}  // namespace
}  // namespace mmhook
