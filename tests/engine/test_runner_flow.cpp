// Stage traces of the loops against MMEngine's call order and counters (docs/design.md §B3.5–B3.9).

#include <gtest/gtest.h>

#include "mmhook/engine/loops.h"
#include "mmhook/optim/optim_wrapper.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::RecordingHook;
using testing::StageCall;
using testing::TempDir;

void eval_trace(std::vector<StageCall>& t, const std::string& mode, int64_t epoch, int64_t iter) {
  t.push_back({"before_" + mode, epoch, iter, -1});
  t.push_back({"before_" + mode + "_epoch", epoch, iter, -1});
  for (int64_t b = 0; b < 4; ++b) {
    t.push_back({"before_" + mode + "_iter", epoch, iter, b});
    t.push_back({"after_" + mode + "_iter", epoch, iter, b});
  }
  t.push_back({"after_" + mode + "_epoch", epoch, iter, -1});
  t.push_back({"after_" + mode, epoch, iter, -1});
}

TEST(RunnerFlowTest, EpochLoopThreeEpochsValBeginTwoThenTest) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"] = {{"by_epoch", true}, {"max_epochs", 3}, {"val_interval", 1}, {"val_begin", 2}};
  Runner runner(cfg);
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  runner.test();

  std::vector<StageCall> want;
  want.push_back({"before_run", 0, 0, -1});
  want.push_back({"before_train", 0, 0, -1});
  for (int64_t e = 0; e < 3; ++e) {
    want.push_back({"before_train_epoch", e, 4 * e, -1});
    for (int64_t b = 0; b < 4; ++b) {
      want.push_back({"before_train_iter", e, 4 * e + b, b});
      want.push_back({"after_train_iter", e, 4 * e + b, b});
    }
    want.push_back({"after_train_epoch", e, 4 * e + 4, -1});
    // CheckpointHook (VERY_LOW, interval 1) nests before_save_checkpoint in after_train_epoch.
    want.push_back({"before_save_checkpoint", e, 4 * e + 4, -1});
    if (e + 1 >= 2) eval_trace(want, "val", e + 1, 4 * e + 4);
  }
  want.push_back({"after_train", 3, 12, -1});
  want.push_back({"after_run", 3, 12, -1});
  want.push_back({"before_run", 3, 12, -1});
  eval_trace(want, "test", 3, 12);
  want.push_back({"after_run", 3, 12, -1});
  ASSERT_EQ(rec->calls.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(rec->calls[i], want[i]) << "call " << i;

  // docs/design.md §B9 check 11: the wrapper counted the whole run.
  EXPECT_EQ(runner.optim_wrapper().inner_count(), 12);
  EXPECT_EQ(runner.optim_wrapper().max_counts(), 12);
}

TEST(RunnerFlowTest, IterLoopTwelveItersValEveryFour) {
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["train_cfg"]["val_begin"] = 4;
  Runner runner(cfg);
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(rec);
  runner.train();

  std::vector<StageCall> want;
  want.push_back({"before_run", 0, 0, -1});
  want.push_back({"before_train", 0, 0, -1});
  want.push_back({"before_train_epoch", 0, 0, -1});
  for (int64_t i = 0; i < 12; ++i) {
    want.push_back({"before_train_iter", 0, i, i});
    want.push_back({"after_train_iter", 0, i, i});
    if (i == 11) want.push_back({"before_save_checkpoint", 0, 11, -1});
    if ((i + 1) % 4 == 0) eval_trace(want, "val", 0, i + 1);
  }
  want.push_back({"after_train_epoch", 0, 12, -1});
  want.push_back({"after_train", 0, 12, -1});
  want.push_back({"after_run", 0, 12, -1});
  ASSERT_EQ(rec->calls.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(rec->calls[i], want[i]) << "call " << i;
  EXPECT_EQ(runner.train_loop().val_interval(), 4);
  EXPECT_EQ(runner.train_loop().val_begin(), 4);
}

TEST(RunnerFlowTest, IterLoopRestartsFiniteSampler) {
  // docs/design.md §B9 check 13: a finite DefaultSampler restarts and still gives 12 iterations.
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["train_dataloader"]["sampler"] = {{"type", "DefaultSampler"}, {"shuffle", false}};
  Runner runner(cfg);
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  EXPECT_EQ(rec->of("after_train_iter").size(), 12u);
  EXPECT_EQ(runner.iter(), 12);
}

// Records the val interval the loop uses at each train epoch/iteration.
class IntervalHook : public HookImpl<IntervalHook> {
 public:
  std::vector<int64_t> epoch_intervals, iter_intervals, val_epochs, val_iters;
  void before_train_epoch(Runner& r) override {
    epoch_intervals.push_back(r.train_loop().val_interval());
  }
  void before_train_iter(Runner& r, int64_t, const TensorDict&) override {
    iter_intervals.push_back(r.train_loop().val_interval());
  }
  void before_val_epoch(Runner& r) override {
    val_epochs.push_back(r.epoch());
    val_iters.push_back(r.iter());
  }
};

TEST(RunnerFlowTest, DynamicIntervalsEpochMode) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"] = {{"by_epoch", true},
                      {"max_epochs", 12},
                      {"val_interval", 5},
                      {"dynamic_intervals", {{11, 2}}}};
  cfg["default_hooks"] = {{"checkpoint", nullptr}};
  Runner runner(cfg);
  auto hook = std::make_shared<IntervalHook>();
  runner.register_hook(hook);
  runner.train();
  EXPECT_EQ(hook->val_epochs, (std::vector<int64_t>{5, 10, 12}));
  std::vector<int64_t> want(10, 5);
  want.push_back(2);
  want.push_back(2);
  EXPECT_EQ(hook->epoch_intervals, want);
}

TEST(RunnerFlowTest, DynamicIntervalsIterMode) {
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["train_cfg"] = {{"by_epoch", false},
                      {"max_iters", 12},
                      {"val_interval", 5},
                      {"dynamic_intervals", {{11, 2}}}};
  Runner runner(cfg);
  auto hook = std::make_shared<IntervalHook>();
  runner.register_hook(hook);
  runner.train();
  EXPECT_EQ(hook->val_iters, (std::vector<int64_t>{5, 10, 12}));
  std::vector<int64_t> want(10, 5);
  want.push_back(2);
  want.push_back(2);
  EXPECT_EQ(hook->iter_intervals, want);
}

TEST(RunnerFlowTest, LoopsAreBuiltLazily) {
  // docs/design.md §B9 check 16.
  TempDir dir;
  {
    Runner runner(testing::epoch_config(dir / "a"));
    runner.train();
    EXPECT_FALSE(runner.test_loop_built());
  }
  {
    Runner runner(testing::epoch_config(dir / "b"));
    runner.val();
    EXPECT_FALSE(runner.train_loop_built());
    EXPECT_FALSE(runner.test_loop_built());
  }
  {
    Runner runner(testing::epoch_config(dir / "c"));
    runner.test();
    EXPECT_FALSE(runner.train_loop_built());
    EXPECT_FALSE(runner.val_loop_built());
  }
}

TEST(RunnerFlowTest, MissingLoopsRaise) {
  // docs/design.md §B9 check 10.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  for (const char* k :
       {"train_dataloader", "train_cfg", "optim_wrapper", "val_dataloader", "val_cfg",
        "val_evaluator", "test_dataloader", "test_cfg", "test_evaluator"})
    cfg.erase(k);
  Runner runner(cfg);
  EXPECT_THROW(runner.train(), Error);
  EXPECT_THROW(runner.val(), Error);
  EXPECT_THROW(runner.test(), Error);
  try {
    runner.train();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("should not be None"), std::string::npos) << e.what();
  }
  auto partial = testing::epoch_config(dir / "p");
  partial.erase("val_evaluator");
  try {
    Runner r(partial);
    FAIL() << "a partial val triple must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("either all None or not None"), std::string::npos)
        << e.what();
  }
}

// Stops training from a hook: the epoch loop finishes the epoch (and its validation).
class StopHook : public HookImpl<StopHook> {
 public:
  int64_t stop_at_epoch;
  explicit StopHook(int64_t e) : stop_at_epoch(e) {}
  void after_train_epoch(Runner& r) override {
    if (r.epoch() == stop_at_epoch) r.train_loop().stop_training = true;
  }
};

TEST(RunnerFlowTest, StopTrainingEndsAtEpochBoundary) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 10;
  Runner runner(cfg);
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(std::make_shared<StopHook>(2));
  runner.register_hook(rec);
  runner.train();
  EXPECT_EQ(runner.epoch(), 3);  // epoch index 2 finished, then the loop stopped
  EXPECT_EQ(rec->of("after_train_iter").size(), 12u);
  EXPECT_EQ(rec->of("before_val").size(), 3u);  // the stopping epoch still validates
  EXPECT_EQ(rec->names().back(), "after_run");
}

// Requests a stop mid-epoch from "another thread" (here: the hook itself calls the
// thread-safe request_stop): the current iteration finishes, then the loop ends.
class RequestStopHook : public HookImpl<RequestStopHook> {
 public:
  void after_train_iter(Runner& r, int64_t, const TensorDict&, const TensorDict&) override {
    if (r.iter() == 5) r.request_stop();
  }
};

TEST(RunnerFlowTest, RequestStopEndsAfterCurrentIteration) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 10;
  Runner runner(cfg);
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(std::make_shared<RequestStopHook>());
  runner.register_hook(rec);
  runner.train();
  EXPECT_EQ(runner.iter(), 6);
  EXPECT_EQ(rec->of("after_train_iter").size(), 6u);
  EXPECT_EQ(rec->of("after_train").size(), 1u);
  EXPECT_EQ(rec->names().back(), "after_run");
}

class ThrowingHook : public HookImpl<ThrowingHook> {
 public:
  void after_train_iter(Runner& r, int64_t, const TensorDict&, const TensorDict&) override {
    if (r.iter() == 2) throw std::runtime_error("boom at iter 2");
  }
};

TEST(RunnerFlowTest, HookExceptionNamesHookAndStageAfterOnExceptionAndAfterRun) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(rec, 95);  // after the thrower in every stage
  runner.register_hook(std::make_shared<ThrowingHook>(), 20);
  try {
    runner.train();
    FAIL() << "train() must rethrow the hook's error";
  } catch (const HookError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ThrowingHook"), std::string::npos) << msg;
    EXPECT_NE(msg.find("after_train_iter"), std::string::npos) << msg;
    EXPECT_NE(msg.find("boom at iter 2"), std::string::npos) << msg;
    EXPECT_EQ(e.hook(), "ThrowingHook");
    EXPECT_EQ(e.stage(), Stage::kAfterTrainIter);
  }
  const auto names = rec->names();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[names.size() - 2], "on_exception");
  EXPECT_EQ(names.back(), "after_run");
  EXPECT_NE(rec->last_error.find("boom at iter 2"), std::string::npos);
  // The recording hook runs after the thrower, so it never saw the failing iteration's after.
  EXPECT_EQ(rec->of("after_train_iter").size(), 2u);
}

}  // namespace
}  // namespace mmhook
