// OneCycle (docs/design.md §B6.2, §B9 check 95) and ReduceOnPlateau (§B6.4, §B9 check 91). Values
// are checked before the step of their epoch, on MMEngine's two-group SGD fixture.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/scheduler/one_cycle_scheduler.h"
#include "mmhook/scheduler/reduce_on_plateau_scheduler.h"
#include "mmhook/scheduler/step_scheduler.h"
#include "scheduler_fixture.h"

namespace mmhook {
namespace {

using testing_sched::cat;
using testing_sched::Fixture;
using testing_sched::rep;

constexpr double kPi = 3.14159265358979323846;

SchedulerArgs by_iter() {
  SchedulerArgs a;
  a.by_epoch = false;
  return a;
}

// Every group (base included) must follow `targets`.
void expect_all_groups(Fixture& f, ParamScheduler& s, const std::vector<double>& targets) {
  for (size_t e = 0; e < targets.size(); ++e) {
    for (size_t g = 0; g < f.w().num_param_groups(); ++g)
      EXPECT_NEAR(f.lr(g), targets[e], 1e-9) << "step " << e << " group " << g;
    s.step();
  }
}

TEST(OneCycleLRTest, LinearTwoPhase) {
  Fixture f;
  OneCycleLR s(f.w(), 25.0, int64_t{10}, 0.3, "linear", 25.0, 2.0, false, by_iter());
  expect_all_groups(f, s, {1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5});
  // initial/max/min were assigned (not setdefault) in every group.
  for (size_t g = 0; g < 3; ++g) {
    EXPECT_DOUBLE_EQ(f.w().get_group_value(g, "initial_lr"), 1.0);
    EXPECT_DOUBLE_EQ(f.w().get_group_value(g, "max_lr"), 25.0);
    EXPECT_DOUBLE_EQ(f.w().get_group_value(g, "min_lr"), 0.5);
  }
  EXPECT_EQ(s.base_values(), std::vector<double>(3, 1.0));
}

TEST(OneCycleLRTest, LinearThreePhase) {
  Fixture f;
  OneCycleLR s(f.w(), 25.0, int64_t{10}, 0.4, "linear", 25.0, 4.0, true, by_iter());
  expect_all_groups(f, s, {1, 9, 17, 25, 17, 9, 1, 0.75, 0.5, 0.25});
}

TEST(OneCycleLRTest, CosineTwoPhase) {
  Fixture f;
  OneCycleLR s(f.w(), 25.0, int64_t{10}, 0.3, "cos", 25.0, 2.0, false, by_iter());
  std::vector<double> t{1, 13, 25};
  for (int i = 1; i <= 6; ++i) t.push_back(0.5 + (25 - 0.5) / 2 * (std::cos(kPi * i / 7.0) + 1));
  t.push_back(0.5);
  expect_all_groups(f, s, t);
}

TEST(OneCycleLRTest, TotalStepsDefaultsToEndMinusBegin) {
  Fixture f;
  SchedulerArgs a = by_iter();
  a.end = 10;
  OneCycleLR s(f.w(), 25.0, std::nullopt, 0.3, "linear", 25.0, 2.0, false, a);
  EXPECT_EQ(s.total_steps(), 10);
  expect_all_groups(f, s, {1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5});
}

TEST(OneCycleLRTest, PerGroupEtaMax) {
  Fixture f;
  // One value per real group; the last is repeated for the wrapper's base group.
  OneCycleLR s(f.w(), std::vector<double>{25.0, 50.0}, int64_t{10}, 0.3, "linear", 25.0, 2.0, false,
               by_iter());
  EXPECT_DOUBLE_EQ(f.lr(0), 1.0);
  EXPECT_DOUBLE_EQ(f.lr(1), 2.0);
  EXPECT_DOUBLE_EQ(f.lr(2), 2.0);
  s.step();
  s.step();
  EXPECT_DOUBLE_EQ(f.lr(0), 25.0);
  EXPECT_DOUBLE_EQ(f.lr(1), 50.0);
  Fixture g;
  EXPECT_THROW(OneCycleLR(g.w(), std::vector<double>{1, 2, 3, 4}, int64_t{10}), Error);
}

TEST(OneCycleLRTest, Errors) {
  Fixture f;
  EXPECT_THROW(OneCycleLR(f.w(), 25.0, int64_t{0}), Error);
  EXPECT_THROW(OneCycleLR(f.w(), 25.0, int64_t{-1}), Error);
  EXPECT_THROW(OneCycleLR(f.w(), 25.0, int64_t{10}, 1.5), Error);
  EXPECT_THROW(OneCycleLR(f.w(), 25.0, int64_t{10}, -0.1), Error);
  EXPECT_THROW(OneCycleLR(f.w(), 25.0, int64_t{10}, 0.3, "exp"), Error);
  // Stepping past total_steps raises: s = 10 is allowed, s = 11 is not.
  Fixture g;
  OneCycleLR s(g.w(), 25.0, int64_t{10}, 0.3, "linear", 25.0, 2.0, false, by_iter());
  for (int i = 0; i < 10; ++i) s.step();
  EXPECT_EQ(s.last_step(), 10);
  try {
    s.step();
    FAIL() << "expected an Error past total_steps";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("total steps is 10"), std::string::npos) << e.what();
  }
}

TEST(OneCycleMomentumTest, SchedulesMomentum) {
  Fixture f;
  OneCycleMomentum s(f.w(), 0.95, int64_t{4}, 0.5, "linear", 1.0, 1.0, false, by_iter());
  // initial = max = min = 0.95: constant.
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(f.w().get_group_value(0, "momentum"), 0.95, 1e-12);
    s.step();
  }
  EXPECT_DOUBLE_EQ(f.lr(0), 0.05);  // lr untouched
}

// ---------------------------------------------------------------------------------------------

struct PlateauCase {
  std::string monitor;
  std::vector<double> metrics;
  std::string rule;
  double threshold;
  std::string threshold_rule;
};

std::vector<PlateauCase> plateau_cases() {
  const std::vector<double> loss{10, 9, 8, 7, 6, 6, 6, 6, 6, 6};
  const std::vector<double> map{1, 2, 3, 4, 5, 5, 5, 5, 5, 5};
  return {{"loss", loss, "less", 0.01, "rel"},
          {"loss", loss, "less", 0.9, "abs"},
          {"bbox_mAP", map, "greater", 0.01, "rel"},
          {"bbox_mAP", map, "greater", 0.9, "abs"}};
}

TEST(ReduceOnPlateauLRTest, ReducesAfterPatience) {
  for (const auto& c : plateau_cases()) {
    SCOPED_TRACE(c.rule + "/" + c.threshold_rule);
    Fixture f;
    ReduceOnPlateauLR s(f.w(), c.monitor, c.rule, 0.1, 2, c.threshold, c.threshold_rule, 1);
    EXPECT_TRUE(s.need_val_args());
    EXPECT_EQ(s.global_step(), 0);  // no implicit first step
    EXPECT_EQ(s.last_step(), -1);
    const std::vector<double> t = cat({rep(0.05, 8), rep(0.005, 2)});
    for (size_t e = 0; e < t.size(); ++e) {
      EXPECT_NEAR(f.lr(0), t[e], 1e-10) << "epoch " << e;
      EXPECT_NEAR(f.lr(1), t[e] * 10, 1e-9) << "epoch " << e;
      OrderedMap<double> m;
      m.set(c.monitor, c.metrics[e]);
      s.step(m);
    }
  }
}

TEST(ReduceOnPlateauLRTest, MinValueClamps) {
  for (const auto& c : plateau_cases()) {
    SCOPED_TRACE(c.rule + "/" + c.threshold_rule);
    Fixture f;
    ReduceOnPlateauLR s(f.w(), c.monitor, c.rule, 0.1, 2, c.threshold, c.threshold_rule, 1, 0.01);
    const std::vector<double> t0 = cat({rep(0.05, 8), rep(0.01, 2)});
    const std::vector<double> t1 = cat({rep(0.5, 8), rep(0.05, 2)});
    for (size_t e = 0; e < t0.size(); ++e) {
      EXPECT_NEAR(f.lr(0), t0[e], 1e-10) << "epoch " << e;
      EXPECT_NEAR(f.lr(1), t1[e], 1e-9) << "epoch " << e;
      OrderedMap<double> m;
      m.set(c.monitor, c.metrics[e]);
      s.step(m);
    }
    EXPECT_NEAR(s.get_last_value()[0], 0.01, 1e-12);
    EXPECT_NEAR(s.get_last_value()[1], 0.05, 1e-12);
  }
  // A per-group list: one entry per real group.
  Fixture f;
  ReduceOnPlateauLR s(f.w(), "loss", "less", 0.1, 0, 1e-4, "rel", 0,
                      std::vector<double>{0.01, 0.2});
  EXPECT_EQ(s.min_values(), (std::vector<double>{0.01, 0.2, 0.2}));
  OrderedMap<double> m{{"loss", 1.0}};
  s.step(m);
  s.step(m);  // bad epoch 1 > patience 0
  EXPECT_NEAR(f.lr(0), 0.01, 1e-12);
  EXPECT_NEAR(f.lr(1), 0.2, 1e-12);
}

TEST(ReduceOnPlateauLRTest, Errors) {
  Fixture f;
  SchedulerArgs iter = by_iter();
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "rel", 0, 0.0, 1e-8, iter),
               Error);
  SchedulerArgs bad_span;
  bad_span.begin = 10;
  bad_span.end = 5;
  EXPECT_THROW(
      ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "rel", 0, 0.0, 1e-8, bad_span),
      Error);
  SchedulerArgs bad_last;
  bad_last.last_step = -2;
  EXPECT_THROW(
      ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "rel", 0, 0.0, 1e-8, bad_last),
      Error);
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 2.0), Error);
  EXPECT_NO_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "rel", 0,
                                    std::vector<double>{0.1, 0.1}));
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "rel", 0,
                                 std::vector<double>{0.1, 0.1, 0.1, 0.1}),
               Error);
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, -1.0), Error);
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "foo"), Error);
  EXPECT_THROW(ReduceOnPlateauLR(f.w(), "loss", "less", 0.1, 10, 1e-4, "foo"), Error);

  // step() without metrics only counts; a missing monitor key is a not-found Error naming it.
  // (MMEngine's TypeError for a non-dict cannot arise: metrics are typed.)
  ReduceOnPlateauLR s(f.w(), "loss");
  s.step();
  EXPECT_EQ(s.global_step(), 1);
  EXPECT_EQ(s.last_step(), -1);
  OrderedMap<double> m{{"acc", 1.0}};
  try {
    s.step(m);
    FAIL() << "expected a missing-key Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_NE(std::string(e.what()).find("'loss'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'acc'"), std::string::npos) << e.what();
  }
}

TEST(ReduceOnPlateauLRTest, BeginGatesOnCountedEpochs) {
  // The range test uses the epoch counter that step() (after_train_epoch) advances.
  Fixture f;
  SchedulerArgs a;
  a.begin = 1;
  OrderedMap<double> m{{"accuracy/top1", 0.5}};
  ReduceOnPlateauLR gated(f.w(), "accuracy/top1", "greater", 0.5, 0, 1e-4, "rel", 0, 0.0, 1e-8, a);
  gated.step(m);  // global step 0 < begin: ignored
  EXPECT_EQ(gated.last_step(), -1);
  gated.step();
  gated.step(m);
  EXPECT_EQ(gated.last_step(), 0);
  gated.step(m);  // same value: bad epoch 1 > patience 0 -> halve
  EXPECT_NEAR(f.lr(0), 0.025, 1e-12);
  // Other schedulers do not want validation metrics.
  StepLR step(f.w(), 3);
  EXPECT_FALSE(step.need_val_args());
}

TEST(ReduceOnPlateauMomentumTest, ReducesMomentum) {
  Fixture f;
  ReduceOnPlateauMomentum s(f.w(), "loss", "less", 0.5, 0);
  OrderedMap<double> m{{"loss", 1.0}};
  s.step(m);
  s.step(m);
  EXPECT_NEAR(f.w().get_group_value(0, "momentum"), 0.005, 1e-12);
  EXPECT_NEAR(f.lr(0), 0.05, 1e-12);
}

}  // namespace
}  // namespace mmhook
