// IterTimerHook (docs/design.md §B4.2; §B9 check 61), with an injected clock: 1 s per read.

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/loops.h"
#include "mmhook/hooks/iter_timer_hook.h"
#include "mmhook/logging/message_hub.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

// A clock that returns 0, 1, 2, ... on successive reads.
std::function<double()> ticking_clock() {
  auto t = std::make_shared<double>(-1);
  return [t] { return *t += 1; };
}

TEST(IterTimerHookTest, TrainTimesAndEta) {
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["train_cfg"]["max_iters"] = 100;
  Runner runner(cfg);
  IterTimerHook hook(ticking_clock());
  runner.train_loop();
  hook.before_train(runner);
  hook.before_train_epoch(runner);
  const MessageHub& hub = runner.message_hub();
  for (int64_t i = 0; i < 10; ++i) {
    runner.train_loop().set_counters(0, i);
    hook.before_train_iter(runner, i, {});
    EXPECT_EQ(hub.get_scalar("train/data_time").current(), 1.0) << i;
    hook.after_train_iter(runner, i, {}, {});
    EXPECT_EQ(hub.get_scalar("train/time").current(), 2.0) << i;
  }
  // avg 2 s over 10 iterations, 90 left.
  EXPECT_DOUBLE_EQ(hub.get_info("eta").get<double>(), 180.0);
  EXPECT_EQ(hub.get_scalar("train/time").log_history(), std::vector<double>(10, 2.0));
  EXPECT_EQ(hub.get_scalar("train/data_time").log_history(), std::vector<double>(10, 1.0));
}

TEST(IterTimerHookTest, AverageCountsFromTheResumedIter) {
  // start_iter is the iter at before_train, so a resumed run averages only its own iterations.
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["train_cfg"]["max_iters"] = 100;
  Runner runner(cfg);
  IterTimerHook hook(ticking_clock());
  runner.train_loop().set_counters(0, 50);
  hook.before_train(runner);
  hook.before_train_epoch(runner);
  hook.before_train_iter(runner, 50, {});
  hook.after_train_iter(runner, 50, {}, {});
  EXPECT_DOUBLE_EQ(runner.message_hub().get_info("eta").get<double>(), 2.0 * 49);
}

class EvalTimerTest : public ::testing::TestWithParam<Mode> {};

TEST_P(EvalTimerTest, EtaOverTheLoader) {
  const Mode mode = GetParam();
  const std::string prefix = mode == Mode::kVal ? "val/" : "test/";
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));  // 4 val and 4 test batches
  if (mode == Mode::kVal) {
    runner.val_loop();
  } else {
    runner.test_loop();
  }
  IterTimerHook hook(ticking_clock());
  const MessageHub& hub = runner.message_hub();
  for (int round = 0; round < 2; ++round) {  // after_epoch resets the running total
    hook.before_epoch(runner, mode);
    for (int64_t b = 0; b < 4; ++b) {
      hook.before_iter(runner, b, {}, mode);
      EXPECT_EQ(hub.get_scalar(prefix + "data_time").current(), 1.0);
      hook.after_iter(runner, b, {}, {}, mode);
      EXPECT_EQ(hub.get_scalar(prefix + "time").current(), 2.0);
      if (b == 1) {
        EXPECT_DOUBLE_EQ(hub.get_info("eta").get<double>(), 4.0) << "round " << round;
      }
    }
    EXPECT_DOUBLE_EQ(hub.get_info("eta").get<double>(), 0.0);
    hook.after_epoch(runner, mode);
  }
  EXPECT_FALSE(hub.has_scalar("train/time"));
}

INSTANTIATE_TEST_SUITE_P(ValAndTest, EvalTimerTest, ::testing::Values(Mode::kVal, Mode::kTest));

TEST(IterTimerHookTest, EightIterationRun) {
  // End to end: 2 epochs x 4 iters with the fake clock replacing the default timer.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"timer", nullptr}};
  Runner runner(cfg);
  runner.register_hook(std::make_shared<IterTimerHook>(ticking_clock()));
  runner.train();
  const MessageHub& hub = runner.message_hub();
  EXPECT_EQ(hub.get_scalar("train/time").log_history(), std::vector<double>(8, 2.0));
  EXPECT_EQ(hub.get_scalar("train/data_time").log_history(), std::vector<double>(8, 1.0));
  EXPECT_EQ(hub.get_scalar("val/time").log_history(), std::vector<double>(8, 2.0));
  EXPECT_DOUBLE_EQ(hub.get_info("eta").get<double>(), 0.0);
}

TEST(IterTimerHookTest, DefaultClockMeasuresNonNegativeTimes) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.train();
  const MessageHub& hub = runner.message_hub();
  for (double t : hub.get_scalar("train/time").log_history()) EXPECT_GE(t, 0.0);
  const auto time = hub.get_scalar("train/time").log_history();
  const auto data = hub.get_scalar("train/data_time").log_history();
  ASSERT_EQ(time.size(), 8u);
  for (size_t i = 0; i < time.size(); ++i) EXPECT_GE(time[i], data[i]) << i;
}

}  // namespace
}  // namespace mmhook
