// Parameter schedulers (docs/design.md §B6, §B9 checks 82-90, 92, 94): two SGD groups with lr 0.05
// and 0.5, momentum 0.01; each value is checked before the step of its epoch.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/scheduler/cosine_scheduler.h"
#include "mmhook/scheduler/exponential_scheduler.h"
#include "mmhook/scheduler/linear_scheduler.h"
#include "mmhook/scheduler/poly_scheduler.h"
#include "mmhook/scheduler/step_scheduler.h"
#include "scheduler_fixture.h"

namespace mmhook {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The two-group SGD fixture shared with the other scheduler tests.
using testing_sched::Fixture;

// Group 0 must follow `targets`, group 1 ten times it (checked before each step).
void expect_values(Fixture& f, const std::vector<ParamScheduler*>& schedulers,
                   const std::vector<double>& targets, const std::string& param = "lr") {
  for (size_t e = 0; e < targets.size(); ++e) {
    EXPECT_NEAR(f.w().get_group_value(0, param), targets[e], 1e-8) << "epoch " << e;
    EXPECT_NEAR(f.w().get_group_value(1, param), targets[e] * 10, 1e-7) << "epoch " << e;
    for (auto* s : schedulers) s->step();
  }
}

std::vector<double> rep(double v, int n) { return std::vector<double>(n, v); }
std::vector<double> cat(std::vector<std::vector<double>> parts) {
  std::vector<double> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
SchedulerArgs span(int64_t begin, int64_t end) {
  SchedulerArgs a;
  a.begin = begin;
  a.end = end;
  return a;
}

TEST(ParamSchedulerTest, ValidationErrors) {
  Fixture f;
  EXPECT_THROW(StepLR(f.w(), 3, 0.1, span(10, 5)), Error);
  SchedulerArgs resume;
  resume.last_step = 10;
  try {
    StepLR s(f.w(), 3, 0.1, resume);
    FAIL() << "resumed without initial_lr";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("initial_lr"), std::string::npos);
  }
  EXPECT_THROW(StepParamScheduler(f.w(), "invalid_name", 3), Error);
}

TEST(ParamSchedulerTest, StepLR) {
  Fixture f;
  StepLR s(f.w(), 3, 0.1);
  EXPECT_EQ(s.last_step(), 0);
  std::vector<double> t = cat({rep(0.05, 3), rep(0.005, 3), rep(0.0005, 3), rep(0.00005, 1)});
  for (size_t e = 0; e < t.size(); ++e) {
    EXPECT_NEAR(f.w().get_group_value(0, "lr"), t[e], 1e-10);
    s.step();
    EXPECT_EQ(s.last_step(), static_cast<int64_t>(e) + 1);
  }
  // initial_lr was set once from the starting value, for the base group too.
  EXPECT_EQ(f.w().get_group_value(0, "initial_lr"), 0.05);
  EXPECT_EQ(f.w().get_group_value(2, "initial_lr"), 0.05);
}

TEST(ParamSchedulerTest, MultiStepLR) {
  Fixture f;
  MultiStepLR s(f.w(), std::vector<int64_t>{2, 5, 9}, 0.1);
  expect_values(f, {&s}, cat({rep(0.05, 2), rep(0.005, 3), rep(0.0005, 4), rep(0.00005, 1)}));
}

TEST(ParamSchedulerTest, ConstantLR) {
  Fixture f;
  ConstantLR s(f.w(), 0.5, span(0, 5));
  expect_values(f, {&s}, cat({rep(0.025, 4), rep(0.05, 6)}));
  Fixture g;
  EXPECT_THROW(ConstantLR(g.w(), 99.0, span(0, 5)), Error);
}

TEST(ParamSchedulerTest, LinearLR) {
  Fixture f;
  LinearLR s(f.w(), 0.5, 1.0, span(0, 5));
  expect_values(f, {&s}, cat({{0.025, 0.03125, 0.0375, 0.04375}, rep(0.05, 6)}));
  Fixture g;
  LinearLR s2(g.w(), 0.5, 1.0, span(1, 6));
  expect_values(g, {&s2}, cat({{0.05, 0.025, 0.03125, 0.0375, 0.04375}, rep(0.05, 5)}));
  Fixture h;
  EXPECT_THROW(LinearLR(h.w(), 10.0, 1.0, span(0, 5)), Error);
  EXPECT_THROW(LinearLR(h.w(), 0.5, -1.0, span(0, 5)), Error);
}

TEST(ParamSchedulerTest, ExponentialLRAndResume) {
  Fixture f;
  ExponentialLR s(f.w(), 0.9);
  std::vector<double> t;
  t.reserve(10);
  for (int x = 0; x < 10; ++x) t.push_back(0.05 * std::pow(0.9, x));
  expect_values(f, {&s}, t);

  Fixture g;
  ExponentialLR a(g.w(), 0.9);
  for (int i = 0; i < 4; ++i) a.step();
  SchedulerArgs resume;
  resume.last_step = 4;
  ExponentialLR b(g.w(), 0.9, resume);  // its implicit step is step 5
  for (int x = 5; x < 10; ++x) {
    EXPECT_NEAR(g.w().get_group_value(0, "lr"), 0.05 * std::pow(0.9, x), 1e-10);
    b.step();
  }
}

TEST(ParamSchedulerTest, CosineAnnealingLR) {
  Fixture f;
  const double eta = 1e-10;
  CosineAnnealingLR s(f.w(), int64_t{10}, eta);
  std::vector<double> t;
  t.reserve(12);
  for (int x = 0; x < 12; ++x) t.push_back(eta + (0.05 - eta) * (1 + std::cos(kPi * x / 10)) / 2);
  expect_values(f, {&s}, t);
  Fixture g;
  CosineAnnealingLR s2(g.w(), std::nullopt, std::nullopt, std::nullopt, span(5, 100));
  EXPECT_EQ(s2.T_max(), 95);
  Fixture h;
  EXPECT_THROW(CosineAnnealingLR(h.w(), int64_t{10}, 0.0, 0.1), Error);
}

TEST(ParamSchedulerTest, PolyLR) {
  Fixture f;
  PolyLR s(f.w(), 0.001, 0.9, span(0, 5));
  std::vector<double> t;
  t.reserve(10);
  for (int i = 0; i < 4; ++i) t.push_back(0.001 + (0.05 - 0.001) * std::pow(1 - i / 4.0, 0.9));
  for (int i = 0; i < 6; ++i) t.push_back(0.001);
  for (size_t e = 0; e < t.size(); ++e) {
    EXPECT_NEAR(f.w().get_group_value(0, "lr"), t[e], 1e-8) << e;
    s.step();
  }
}

TEST(ParamSchedulerTest, CosineRestartLR) {
  Fixture f;
  CosineRestartLR s(f.w(), std::vector<int64_t>{4, 5}, std::vector<double>{1, 0.5}, 0.0);
  const std::vector<double> t{0.05,        0.0426776,  0.025,     0.00732233, 0.025,
                              0.022612712, 0.01636271, 0.0086372, 0.0023872,  0.0023872};
  for (size_t e = 0; e < t.size(); ++e) {
    EXPECT_NEAR(f.w().get_group_value(0, "lr"), t[e], 1e-7) << e;
    s.step();
  }
  Fixture g;
  EXPECT_THROW(
      CosineRestartLR(g.w(), std::vector<int64_t>{4, 5}, std::vector<double>{1, 0.5}, 0.0, 0.1),
      Error);
  EXPECT_THROW(CosineRestartLR(g.w(), std::vector<int64_t>{4, 5}, std::vector<double>{1}, 0.0),
               Error);
}

TEST(ParamSchedulerTest, MomentumVariants) {
  Fixture f;
  StepMomentum s(f.w(), 3, 0.1);
  for (int e = 0; e < 7; ++e) {
    const double want = 0.01 * std::pow(0.1, e / 3);
    EXPECT_NEAR(f.w().get_group_value(0, "momentum"), want, 1e-12);
    EXPECT_NEAR(f.w().get_group_value(1, "momentum"), want, 1e-12);
    s.step();
  }
  at::Tensor p = torch::zeros({1}, torch::requires_grad());
  OptimWrapper adam(std::make_shared<torch::optim::Adam>(
                        std::vector<at::Tensor>{p},
                        torch::optim::AdamOptions(0.1).betas(std::make_tuple(0.9, 0.99))),
                    "Adam");
  MultiStepMomentum m(adam, std::vector<int64_t>{1}, 0.5);
  m.step();
  auto& opts =
      static_cast<torch::optim::AdamOptions&>(adam.optimizer().param_groups()[0].options());
  EXPECT_NEAR(std::get<0>(opts.betas()), 0.45, 1e-12);
  EXPECT_EQ(std::get<1>(opts.betas()), 0.99);
  OptimWrapper adagrad(std::make_shared<torch::optim::Adagrad>(std::vector<at::Tensor>{p},
                                                               torch::optim::AdagradOptions(0.1)),
                       "Adagrad");
  EXPECT_THROW(StepMomentum(adagrad, 2), Error);
}

TEST(ParamSchedulerTest, Chaining) {
  {
    Fixture f;
    LinearLR a(f.w(), 0.5, 1.0, span(0, 5));
    MultiStepLR b(f.w(), std::vector<int64_t>{3, 6}, 0.1, span(5, 12));
    expect_values(f, {&a, &b},
                  cat({{0.025, 0.03125, 0.0375, 0.04375}, rep(0.05, 4), rep(0.005, 3), {0.0005}}));
  }
  {
    Fixture f;
    LinearLR a(f.w(), 0.5, 1.0, span(0, 5));
    MultiStepLR b(f.w(), std::vector<int64_t>{3, 6, 9}, 0.1);
    expect_values(
        f, {&a, &b},
        cat({{0.025, 0.03125, 0.0375, 0.004375}, rep(0.005, 2), rep(0.0005, 3), {0.00005}}));
  }
  {
    // Exp(.9, 0..5) then Cos(T=5, 10..15): the gap 5..9 holds the last value.
    Fixture f;
    ExponentialLR a(f.w(), 0.9, span(0, 5));
    CosineAnnealingLR b(f.w(), int64_t{5}, 0.0, std::nullopt, span(10, 15));
    std::vector<double> t;
    t.reserve(15);
    for (int x = 0; x < 5; ++x) t.push_back(0.05 * std::pow(0.9, x));
    for (int x = 0; x < 5; ++x) t.push_back(0.05 * std::pow(0.9, 4));
    for (int x = 0; x < 5; ++x)
      t.push_back(0.05 * std::pow(0.9, 4) * (1 + std::cos(kPi * x / 5)) / 2);
    expect_values(f, {&a, &b}, t);
  }
}

TEST(ParamSchedulerTest, StateDictRoundTrip) {
  Fixture f;
  MultiStepLR a(f.w(), std::vector<int64_t>{2, 5, 9}, 0.1);
  for (int i = 0; i < 3; ++i) a.step();
  Fixture g;
  MultiStepLR b(g.w(), std::vector<int64_t>{1, 2, 3}, 0.3);
  b.load_state_dict(torch::pickle_load(torch::pickle_save(a.state_dict())));
  EXPECT_EQ(b.milestones(), a.milestones());
  EXPECT_EQ(b.get_last_value(), a.get_last_value());
  EXPECT_EQ(b.last_step(), a.last_step());
  EXPECT_EQ(b.global_step(), a.global_step());
  EXPECT_EQ(b.base_values(), a.base_values());
  auto da = a.state_dict().toGenericDict();
  auto db = b.state_dict().toGenericDict();
  EXPECT_EQ(da.size(), db.size());
  for (const auto& e : da) EXPECT_EQ(db.at(e.key()), e.value()) << e.key().toStringRef();

  Fixture h;
  CosineRestartLR c(h.w(), std::vector<int64_t>{4, 5}, std::vector<double>{1, 0.5}, 0.0);
  c.step();
  Fixture k;
  CosineRestartLR d(k.w(), std::vector<int64_t>{2}, std::vector<double>{1}, std::nullopt, 0.5);
  d.load_state_dict(c.state_dict());
  auto dc = c.state_dict().toGenericDict();
  auto dd = d.state_dict().toGenericDict();
  for (const auto& e : dc) EXPECT_EQ(dd.at(e.key()), e.value()) << e.key().toStringRef();
}

}  // namespace
}  // namespace mmhook
