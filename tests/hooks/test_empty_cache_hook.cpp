// EmptyCacheHook call counts over train, val and test (docs/design.md §B4.9, §B9 check 71). On a
// machine without CUDA the hook counts its calls without reaching an allocator.

#include <gtest/gtest.h>

#include <torch/cuda.h>

#include "mmhook/hooks/empty_cache_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

EmptyCacheHook& run_all(Runner& runner, bool val_before_test) {
  runner.train();
  if (val_before_test) {
    runner.val();
    runner.test();
  } else {
    runner.test();
    runner.val();
  }
  auto* hook = dynamic_cast<EmptyCacheHook*>(runner.find_hook("EmptyCacheHook"));
  EXPECT_NE(hook, nullptr);
  if (torch::cuda::is_available())
    EXPECT_EQ(hook->cuda_calls(), hook->calls());
  else
    EXPECT_EQ(hook->cuda_calls(), 0);
  return *hook;
}

TEST(EmptyCacheHookTest, DefaultsAfterEachEpoch) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = nlohmann::json::array({{{"type", "EmptyCacheHook"}}});
  cfg["train_cfg"]["val_interval"] = 1000000;  // only the forced validation after the last epoch
  Runner runner(cfg);
  // train: max_epochs; the last epoch's validation: 1; test: 1; val: 1.
  const int64_t calls = run_all(runner, false).calls();
  EXPECT_EQ(runner.max_epochs(), 2);
  EXPECT_EQ(calls, runner.max_epochs() + 3);
}

TEST(EmptyCacheHookTest, BeforeAndAfterEachEpoch) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] =
      nlohmann::json::array({{{"type", "EmptyCacheHook"}, {"before_epoch", true}}});
  Runner runner(cfg);
  // train: 2 epochs x 2; val: (2 during training + 1) x 2; test: 1 x 2.
  EXPECT_EQ(run_all(runner, true).calls(), 2 * 2 + 3 * 2 + 1 * 2);
}

TEST(EmptyCacheHookTest, AlsoAfterEachIteration) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = nlohmann::json::array(
      {{{"type", "EmptyCacheHook"}, {"before_epoch", true}, {"after_iter", true}}});
  Runner runner(cfg);
  // Each pass of 4 iterations adds 4 calls to its 2 epoch calls.
  EXPECT_EQ(run_all(runner, true).calls(), 2 * (2 + 4) + 3 * (2 + 4) + 1 * (2 + 4));
}

TEST(EmptyCacheHookTest, StagesAndDirectCalls) {
  EmptyCacheHook hook(true, true, true);
  const StageMask want = stage_bit(Stage::kBeforeTrainEpoch) | stage_bit(Stage::kBeforeValEpoch) |
                         stage_bit(Stage::kBeforeTestEpoch) | stage_bit(Stage::kAfterTrainEpoch) |
                         stage_bit(Stage::kAfterValEpoch) | stage_bit(Stage::kAfterTestEpoch) |
                         stage_bit(Stage::kAfterTrainIter) | stage_bit(Stage::kAfterValIter) |
                         stage_bit(Stage::kAfterTestIter);
  EXPECT_EQ(hook.triggered_stages(), want);
  EXPECT_EQ(cuda_empty_cache(), torch::cuda::is_available());
}

TEST(EmptyCacheHookTest, WrongOptionTypeNamesThePath) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] =
      nlohmann::json::array({{{"type", "EmptyCacheHook"}, {"after_iter", "yes"}}});
  try {
    Runner runner(cfg);
    runner.train();
    FAIL() << "a string for a bool option must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("after_iter"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
