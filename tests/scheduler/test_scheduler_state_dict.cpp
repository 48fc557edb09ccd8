// Check 92: every scheduler family round-trips through its state dict. A differently
// configured instance that loads the state (after a pickle round trip, as in a checkpoint) has
// the same fields and the same get_last_value().
#include <functional>

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include "mmhook/scheduler/cosine_scheduler.h"
#include "mmhook/scheduler/exponential_scheduler.h"
#include "mmhook/scheduler/linear_scheduler.h"
#include "mmhook/scheduler/poly_scheduler.h"
#include "mmhook/scheduler/one_cycle_scheduler.h"
#include "mmhook/scheduler/reduce_on_plateau_scheduler.h"
#include "mmhook/scheduler/step_scheduler.h"
#include "scheduler_fixture.h"

namespace mmhook {
namespace {

using testing_sched::Fixture;
using Make = std::function<std::unique_ptr<ParamScheduler>(OptimWrapper&)>;

SchedulerArgs span(int64_t begin, int64_t end, bool by_epoch = true) {
  SchedulerArgs a;
  a.begin = begin;
  a.end = end;
  a.by_epoch = by_epoch;
  return a;
}

// Steps `a` (with metrics when it wants them) `steps` times, loads its state into `b`.
void round_trip(const Make& make_a, const Make& make_b, int steps) {
  Fixture f;
  auto a = make_a(f.w());
  OrderedMap<double> metrics{{"loss", 1.0}};
  for (int i = 0; i < steps; ++i) {
    if (a->need_val_args()) {
      a->step();
      a->step(metrics);
    } else {
      a->step();
    }
  }
  Fixture g;
  auto b = make_b(g.w());
  const auto da = a->state_dict().toGenericDict();
  const auto before = b->state_dict().toGenericDict();
  bool differed = false;
  for (const auto& e : da) differed |= !(before.at(e.key()) == e.value());
  EXPECT_TRUE(differed) << "the second instance should start from a different configuration";

  b->load_state_dict(torch::pickle_load(torch::pickle_save(a->state_dict())));
  const auto db = b->state_dict().toGenericDict();
  EXPECT_EQ(da.size(), db.size());
  for (const auto& e : da) {
    ASSERT_TRUE(db.contains(e.key())) << e.key().toStringRef();
    EXPECT_EQ(db.at(e.key()), e.value()) << e.key().toStringRef();
  }
  EXPECT_EQ(b->get_last_value(), a->get_last_value());
  EXPECT_EQ(b->last_step(), a->last_step());
  EXPECT_EQ(b->global_step(), a->global_step());
  EXPECT_EQ(b->begin(), a->begin());
  EXPECT_EQ(b->end(), a->end());
  EXPECT_EQ(b->by_epoch(), a->by_epoch());
}

template <class T, class... A>
Make make(A... args) {
  return [=](OptimWrapper& w) { return std::unique_ptr<ParamScheduler>(new T(w, args...)); };
}

TEST(SchedulerStateDictTest, Step) {
  round_trip(make<StepLR>(int64_t{3}, 0.1), make<StepLR>(int64_t{5}, 0.5, span(1, 20)), 4);
  round_trip(make<StepMomentum>(int64_t{2}, 0.1), make<StepMomentum>(int64_t{1}, 0.9), 3);
}

TEST(SchedulerStateDictTest, MultiStep) {
  round_trip(make<MultiStepLR>(std::vector<int64_t>{2, 5, 9}, 0.1),
             make<MultiStepLR>(std::vector<int64_t>{1, 1, 3}, 0.3, span(2, 8)), 6);
}

TEST(SchedulerStateDictTest, Constant) {
  round_trip(make<ConstantLR>(0.5, span(0, 5)), make<ConstantLR>(0.25, span(1, 9)), 3);
}

TEST(SchedulerStateDictTest, Linear) {
  round_trip(make<LinearLR>(0.5, 1.0, span(0, 5)), make<LinearLR>(0.2, 0.8, span(2, 12)), 3);
}

TEST(SchedulerStateDictTest, Exponential) {
  round_trip(make<ExponentialLR>(0.9), make<ExponentialLR>(0.5, span(0, 4)), 5);
}

TEST(SchedulerStateDictTest, Poly) {
  round_trip(make<PolyLR>(0.001, 0.9, span(0, 5)), make<PolyLR>(0.0, 2.0, span(1, 30)), 2);
}

TEST(SchedulerStateDictTest, CosineAnnealing) {
  round_trip(make<CosineAnnealingLR>(std::optional<int64_t>(10), std::optional<double>(1e-10)),
             make<CosineAnnealingLR>(std::optional<int64_t>(3), std::optional<double>(),
                                     std::optional<double>(0.1)),
             4);
}

TEST(SchedulerStateDictTest, CosineRestart) {
  round_trip(make<CosineRestartLR>(std::vector<int64_t>{4, 5}, std::vector<double>{1, 0.5},
                                   std::optional<double>(0.0)),
             make<CosineRestartLR>(std::vector<int64_t>{2}, std::vector<double>{1},
                                   std::optional<double>(), std::optional<double>(0.5)),
             5);
}

TEST(SchedulerStateDictTest, OneCycle) {
  round_trip(
      make<OneCycleLR>(PerGroupValue(25.0), std::optional<int64_t>(10), 0.3, std::string("linear"),
                       25.0, 2.0, false, span(0, 100, false)),
      make<OneCycleLR>(PerGroupValue(std::vector<double>{1.0, 2.0}), std::optional<int64_t>(20),
                       0.4, std::string("cos"), 10.0, 1e4, true, span(0, 50, false)),
      4);
}

TEST(SchedulerStateDictTest, ReduceOnPlateau) {
  round_trip(make<ReduceOnPlateauLR>(std::string("loss"), std::string("less"), 0.1, int64_t{1},
                                     1e-4, std::string("rel"), int64_t{1}, PerGroupValue(0.001)),
             make<ReduceOnPlateauLR>(std::string("acc"), std::string("greater"), 0.5, int64_t{4},
                                     0.2, std::string("abs"), int64_t{0},
                                     PerGroupValue(std::vector<double>{0.1, 0.2})),
             4);
}

TEST(SchedulerStateDictTest, ResumedSchedulerContinuesTheSequence) {
  // A loaded scheduler on the same optimiser state continues where the saved one stopped.
  Fixture f;
  MultiStepLR a(f.w(), std::vector<int64_t>{2, 5}, 0.1);
  for (int i = 0; i < 3; ++i) a.step();
  const c10::IValue state = torch::pickle_load(torch::pickle_save(a.state_dict()));
  MultiStepLR b(f.w(), std::vector<int64_t>{100}, 0.5, [] {
    SchedulerArgs r;
    r.last_step = 3;
    return r;
  }());
  b.load_state_dict(state);
  EXPECT_NEAR(f.lr(0), 0.005, 1e-12);
  b.step();  // global 4
  b.step();  // global 5: milestone
  EXPECT_NEAR(f.lr(0), 0.0005, 1e-12);
}

}  // namespace
}  // namespace mmhook
