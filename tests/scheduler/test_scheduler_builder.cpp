// Building schedulers from the `param_scheduler` config (docs/design.md §B6.3, §A5): iter
// conversion (§B9 check 93), begin/end defaulting (check 31), OneCycle and ReduceOnPlateau from
// JSON, and config errors that name the JSON path.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/scheduler/cosine_scheduler.h"
#include "mmhook/scheduler/one_cycle_scheduler.h"
#include "mmhook/scheduler/reduce_on_plateau_scheduler.h"
#include "mmhook/scheduler/scheduler_builder.h"
#include "mmhook/scheduler/step_scheduler.h"
#include "scheduler_fixture.h"

namespace mmhook {
namespace {

using nlohmann::json;
using testing_sched::cat;
using testing_sched::Fixture;
using testing_sched::rep;

constexpr double kPi = 3.14159265358979323846;

std::shared_ptr<ParamScheduler> build_one(Fixture& f, const json& cfg, int64_t epoch_length,
                                          int64_t max_epochs, int64_t max_iters = 0) {
  auto out =
      build_param_schedulers(cfg, "param_scheduler", f.w(), epoch_length, max_epochs, max_iters);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

// Group 0 follows `t`, group 1 ten times it (checked before each iteration's step).
void expect_iter_values(Fixture& f, ParamScheduler& s, const std::vector<double>& t,
                        double tol = 1e-9) {
  for (size_t i = 0; i < t.size(); ++i) {
    ASSERT_NEAR(f.lr(0), t[i], tol) << "iter " << i;
    ASSERT_NEAR(f.lr(1), t[i] * 10, tol * 10) << "iter " << i;
    s.step();
  }
}

// Message of the Error `fn` throws ("" when it throws none).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class IterConversionTest : public ::testing::TestWithParam<int> {};

TEST_P(IterConversionTest, StepLR) {
  const int L = GetParam();
  Fixture f;
  auto s =
      build_one(f, {{"type", "StepLR"}, {"step_size", 2}, {"convert_to_iter_based", true}}, L, 100);
  EXPECT_FALSE(s->by_epoch());
  EXPECT_EQ(s->end(), 100 * L);
  EXPECT_EQ(static_cast<StepParamScheduler&>(*s).step_size(), 2 * L);
  expect_iter_values(f, *s, cat({rep(0.05, 2 * L), rep(0.005, 2 * L)}));
}

TEST_P(IterConversionTest, MultiStepLR) {
  const int L = GetParam();
  Fixture f;
  auto s = build_one(
      f, {{"type", "MultiStepLR"}, {"milestones", {2, 5, 9}}, {"convert_to_iter_based", true}}, L,
      100);
  expect_iter_values(
      f, *s, cat({rep(0.05, 2 * L), rep(0.005, 3 * L), rep(0.0005, 4 * L), rep(0.00005, 3 * L)}),
      1e-10);
}

TEST_P(IterConversionTest, ConstantLR) {
  const int L = GetParam();
  Fixture f;
  auto s = build_one(
      f, {{"type", "ConstantLR"}, {"factor", 0.5}, {"end", 5}, {"convert_to_iter_based", true}}, L,
      100);
  EXPECT_EQ(s->end(), 5 * L);
  expect_iter_values(f, *s, cat({rep(0.025, 5 * L - 1), rep(0.05, 5 * L + 1)}));
}

TEST_P(IterConversionTest, LinearLR) {
  const int L = GetParam();
  Fixture f;
  auto s = build_one(
      f, {{"type", "LinearLR"}, {"start_factor", 0.5}, {"end", 5}, {"convert_to_iter_based", true}},
      L, 100);
  const int ramp = 5 * L - 1;
  std::vector<double> t;
  t.reserve(ramp);
  for (int i = 0; i < ramp; ++i) t.push_back(0.025 + (0.05 - 0.025) * i / ramp);
  expect_iter_values(f, *s, cat({t, rep(0.05, 5 * L + 1)}));
}

TEST_P(IterConversionTest, CosineAnnealingLR) {
  const int L = GetParam();
  Fixture f;
  const double eta = 1e-10;
  auto s = build_one(f,
                     {{"type", "CosineAnnealingLR"},
                      {"T_max", 10},
                      {"eta_min", eta},
                      {"convert_to_iter_based", true}},
                     L, 12);
  EXPECT_EQ(static_cast<CosineAnnealingParamScheduler&>(*s).T_max(), 10 * L);
  std::vector<double> t;
  t.reserve(12 * L);
  for (int x = 0; x < 12 * L; ++x)
    t.push_back(eta + (0.05 - eta) * (1 + std::cos(kPi * x / (10.0 * L))) / 2);
  expect_iter_values(f, *s, t, 1e-9);
}

TEST_P(IterConversionTest, OneCycleScalesTotalSteps) {
  const int L = GetParam();
  Fixture f;
  auto s = build_one(f,
                     {{"type", "OneCycleLR"},
                      {"eta_max", 25.0},
                      {"total_steps", 2},
                      {"final_div_factor", 2.0},
                      {"anneal_strategy", "linear"},
                      {"convert_to_iter_based", true}},
                     L, 2);
  EXPECT_EQ(static_cast<OneCycleParamScheduler&>(*s).total_steps(), 2 * L);
  EXPECT_EQ(s->end(), 2 * L);
  EXPECT_DOUBLE_EQ(f.lr(0), 1.0);
}

INSTANTIATE_TEST_SUITE_P(EpochLength, IterConversionTest, ::testing::Values(7, 11));

TEST(SchedulerBuilderTest, ConversionNeedsEpochLength) {
  Fixture f;
  const json cfg = {{"type", "StepLR"}, {"step_size", 2}, {"convert_to_iter_based", true}};
  EXPECT_NE(error_of([&] { build_one(f, cfg, -1, 10); }).find("convert_to_iter_based"),
            std::string::npos);
  EXPECT_NE(error_of([&] { build_one(f, cfg, 0, 10); }), "");
  // Only epoch-based configs convert.
  const json iter_cfg = {
      {"type", "StepLR"}, {"step_size", 2}, {"by_epoch", false}, {"convert_to_iter_based", true}};
  EXPECT_NE(error_of([&] { build_one(f, iter_cfg, 4, 10); }).find("param_scheduler.by_epoch"),
            std::string::npos);
}

TEST(SchedulerBuilderTest, BeginEndWithTrainLoop) {
  // Check 31: train loop of 3 epochs x 4 iterations.
  Fixture f;
  auto a = build_one(f,
                     {{"type", "MultiStepLR"},
                      {"milestones", {1}},
                      {"begin", 1},
                      {"end", 7},
                      {"convert_to_iter_based", true}},
                     4, 3, 12);
  EXPECT_FALSE(a->by_epoch());
  EXPECT_EQ(a->begin(), 4);
  EXPECT_EQ(a->end(), 28);
  auto b = build_one(f, {{"type", "MultiStepLR"}, {"milestones", {1}}, {"begin", 1}}, 4, 3, 12);
  EXPECT_TRUE(b->by_epoch());
  EXPECT_EQ(b->begin(), 1);
  EXPECT_EQ(b->end(), 3);
  auto c = build_one(
      f,
      {{"type", "MultiStepLR"}, {"milestones", {1}}, {"begin", 1}, {"convert_to_iter_based", true}},
      4, 3, 12);
  EXPECT_FALSE(c->by_epoch());
  EXPECT_EQ(c->begin(), 4);
  EXPECT_EQ(c->end(), 12);
  // An iteration-based scheduler defaults to max_iters; without a loop length end stays INF.
  auto d =
      build_one(f, {{"type", "MultiStepLR"}, {"milestones", {1}}, {"by_epoch", false}}, 4, 3, 12);
  EXPECT_EQ(d->end(), 12);
  auto e = build_one(f, {{"type", "MultiStepLR"}, {"milestones", {1}}}, 4, 0, 0);
  EXPECT_EQ(e->end(), kSchedulerInf);
}

TEST(SchedulerBuilderTest, ListAndRegistry) {
  Fixture f;
  const json cfg =
      json::array({{{"type", "LinearLR"}, {"start_factor", 0.5}, {"by_epoch", false}, {"end", 5}},
                   {{"type", "MultiStepLR"},
                    {"milestones", {3, 6}},
                    {"begin", 5},
                    {"end", 12},
                    {"by_epoch", false}}});
  auto list = build_param_schedulers(cfg, "param_scheduler", f.w(), 4, 3, 12);
  ASSERT_EQ(list.size(), 2u);
  // Chained as in check 94.
  const std::vector<double> t =
      cat({{0.025, 0.03125, 0.0375, 0.04375}, rep(0.05, 4), rep(0.005, 3), {0.0005}});
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_NEAR(f.lr(0), t[i], 1e-10) << i;
    for (auto& s : list) s->step();
  }
  for (const std::string family :
       {"Step", "MultiStep", "Constant", "Linear", "Exponential", "Poly", "CosineAnnealing",
        "CosineRestart", "OneCycle", "ReduceOnPlateau"})
    for (const std::string suffix : {"LR", "Momentum", "ParamScheduler"})
      EXPECT_TRUE(scheduler_registry().contains(family + suffix)) << family + suffix;
  // The generic variant reads param_name.
  Fixture g;
  auto m = build_one(g,
                     {{"type", "StepParamScheduler"},
                      {"param_name", "momentum"},
                      {"step_size", 1},
                      {"gamma", 0.5}},
                     4, 3);
  m->step();
  EXPECT_NEAR(g.w().get_group_value(0, "momentum"), 0.005, 1e-12);
  EXPECT_NEAR(g.lr(0), 0.05, 1e-12);
}

TEST(SchedulerBuilderTest, OneCycleFromConfig) {
  Fixture f;
  // total_steps defaults to end - begin, end to the converted loop length (2 epochs x 5).
  auto s = build_one(f,
                     {{"type", "OneCycleLR"},
                      {"eta_max", 25.0},
                      {"final_div_factor", 2.0},
                      {"anneal_strategy", "linear"},
                      {"convert_to_iter_based", true}},
                     5, 2);
  EXPECT_EQ(static_cast<OneCycleParamScheduler&>(*s).total_steps(), 10);
  const std::vector<double> t{1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5};
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_NEAR(f.lr(0), t[i], 1e-9) << i;
    EXPECT_NEAR(f.lr(1), t[i], 1e-9) << i;
    s->step();
  }
  Fixture g;
  auto p =
      build_one(g, {{"type", "OneCycleLR"}, {"eta_max", {10.0, 20.0}}, {"total_steps", 10}}, 5, 2);
  EXPECT_NEAR(g.lr(0), 0.4, 1e-12);
  EXPECT_NEAR(g.lr(1), 0.8, 1e-12);
  // MMEngine rejects a pct_start that is not a float, and a bad strategy names the path.
  EXPECT_NE(error_of([&] {
              build_one(g, {{"type", "OneCycleLR"}, {"pct_start", 1}}, 5, 2);
            }).find("param_scheduler.pct_start"),
            std::string::npos);
  const std::string bad = error_of([&] {
    build_one(g, {{"type", "OneCycleLR"}, {"anneal_strategy", "exp"}}, 5, 2);
  });
  EXPECT_NE(bad.find("param_scheduler: "), std::string::npos) << bad;
  EXPECT_NE(bad.find("anneal_strategy"), std::string::npos) << bad;
}

TEST(SchedulerBuilderTest, ReduceOnPlateauFromConfig) {
  Fixture f;
  auto s = build_one(f,
                     {{"type", "ReduceOnPlateauLR"},
                      {"monitor", "accuracy/top1"},
                      {"rule", "greater"},
                      {"factor", 0.5},
                      {"patience", 0},
                      {"min_value", {0.01, 0.4}}},
                     4, 3);
  EXPECT_TRUE(s->need_val_args());
  EXPECT_EQ(s->end(), 3);
  auto& rop = static_cast<ReduceOnPlateauParamScheduler&>(*s);
  EXPECT_EQ(rop.monitor(), "accuracy/top1");
  EXPECT_EQ(rop.min_values(), (std::vector<double>{0.01, 0.4, 0.4}));
  OrderedMap<double> m{{"accuracy/top1", 0.7}};
  s->step(m);
  s->step(m);
  EXPECT_NEAR(f.lr(0), 0.025, 1e-12);
  EXPECT_NEAR(f.lr(1), 0.4, 1e-12);
  // by_epoch=False (here by conversion) is rejected, naming the path.
  const std::string err = error_of([&] {
    build_one(f, {{"type", "ReduceOnPlateauLR"}, {"convert_to_iter_based", true}}, 4, 3);
  });
  EXPECT_NE(err.find("param_scheduler: "), std::string::npos) << err;
  EXPECT_NE(err.find("by_epoch"), std::string::npos) << err;
  EXPECT_NE(error_of([&] {
              build_one(f, {{"type", "ReduceOnPlateauLR"}, {"min_value", {1, 2, 3, 4}}}, 4, 3);
            }).find("min_value"),
            std::string::npos);
}

TEST(SchedulerBuilderTest, ConfigErrorsNameThePath) {
  Fixture f;
  std::string e = error_of([&] { build_one(f, {{"type", "StepLr"}, {"step_size", 2}}, 4, 3); });
  EXPECT_NE(e.find("param_scheduler.type"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'StepLR'"), std::string::npos) << e;

  e = error_of([&] {
    build_param_schedulers(
        json::array({{{"type", "StepLR"}, {"step_size", 2}},
                     {{"type", "MultiStepLR"}, {"milestones", {1}}, {"gama", 0.5}}}),
        "param_scheduler", f.w(), 4, 3, 12);
  });
  EXPECT_NE(e.find("param_scheduler[1].gama: unknown key (did you mean 'gamma'?)"),
            std::string::npos)
      << e;

  e = error_of([&] { build_one(f, {{"type", "StepLR"}, {"step_size", "two"}}, 4, 3); });
  EXPECT_NE(e.find("param_scheduler.step_size: expected integer, got \"two\""), std::string::npos)
      << e;

  e = error_of([&] { build_one(f, {{"type", "StepLR"}}, 4, 3); });
  EXPECT_NE(e.find("param_scheduler.step_size"), std::string::npos) << e;

  e = error_of([&] { build_one(f, {{"type", "LinearLR"}, {"start_factor", 2.0}}, 4, 3); });
  EXPECT_NE(e.find("param_scheduler: Starting multiplicative factor"), std::string::npos) << e;

  e = error_of([&] {
    build_one(f, {{"type", "StepLR"}, {"step_size", 2}, {"convert_to_iter_based", "yes"}}, 4, 3);
  });
  EXPECT_NE(e.find("param_scheduler.convert_to_iter_based: expected boolean"), std::string::npos)
      << e;

  e = error_of([&] { build_param_schedulers(json(5), "param_scheduler", f.w(), 4, 3, 12); });
  EXPECT_NE(e.find("param_scheduler: expected an object or a list"), std::string::npos) << e;

  try {
    build_one(f, {{"type", "CosineAnnealingLR"}, {"eta_min", "small"}}, 4, 3);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Code::kConfig);
    EXPECT_NE(std::string(err.what()).find("param_scheduler.eta_min"), std::string::npos)
        << err.what();
  }
}

}  // namespace
}  // namespace mmhook
