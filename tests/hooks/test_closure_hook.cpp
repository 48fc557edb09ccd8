// ClosureHook: one callable at exactly one stage, with that stage's arguments.

#include <gtest/gtest.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/hooks/closure_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

TEST(ClosureHookTest, HandlesExactlyItsStage) {
  ClosureHook hook(Stage::kAfterValEpoch, [](Runner&, const StageArgs&) {});
  EXPECT_EQ(hook.triggered_stages(), stage_bit(Stage::kAfterValEpoch));
  EXPECT_EQ(hook.stage(), Stage::kAfterValEpoch);
  EXPECT_EQ(hook.type_name(), "ClosureHook");
  EXPECT_THROW(ClosureHook(Stage::kBeforeRun, nullptr), Error);
}

TEST(ClosureHookTest, ReceivesTheStageArguments) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  std::vector<int64_t> batch_idx;
  std::vector<bool> has_loss;
  std::vector<double> acc;
  int saves = 0;
  runner.register_hook(
      std::make_shared<ClosureHook>(Stage::kAfterTrainIter, [&](Runner& r, const StageArgs& a) {
        batch_idx.push_back(a.batch_idx);
        has_loss.push_back(a.data_batch != nullptr && a.outputs != nullptr &&
                           a.outputs->contains("loss"));
      }));
  runner.register_hook(
      std::make_shared<ClosureHook>(Stage::kAfterValEpoch, [&](Runner&, const StageArgs& a) {
        ASSERT_NE(a.metrics, nullptr);
        acc.push_back(a.metrics->at("acc"));
      }));
  runner.register_hook(std::make_shared<ClosureHook>(
      Stage::kBeforeSaveCheckpoint, [&](Runner& r, const StageArgs& a) {
        ASSERT_NE(a.checkpoint, nullptr);
        a.checkpoint->put_hook_state("closure", "epoch", c10::IValue(r.epoch()));
        ++saves;
      }));
  runner.train();

  EXPECT_EQ(batch_idx, (std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(has_loss, std::vector<bool>(8, true));
  EXPECT_EQ(acc, (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(saves, 2);
  Checkpoint ckpt = load_checkpoint_file(dir / "epoch_2.pth");
  auto epoch = ckpt.get_hook_state("closure", "epoch");
  ASSERT_TRUE(epoch.has_value());
  EXPECT_EQ(epoch->toInt(), 1);  // before_save_checkpoint runs inside after_train_epoch
}

TEST(ClosureHookTest, ListedOnlyUnderItsStage) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.register_hook(
      std::make_shared<ClosureHook>(Stage::kAfterTest, [](Runner&, const StageArgs&) {}));
  const std::string info = runner.get_hooks_info();
  size_t count = 0;
  for (size_t p = info.find("ClosureHook"); p != std::string::npos;
       p = info.find("ClosureHook", p + 1))
    ++count;
  EXPECT_EQ(count, 1u);
  const size_t block = info.find("after_test:\n");
  ASSERT_NE(block, std::string::npos);
  EXPECT_GT(info.find("ClosureHook"), block);
  EXPECT_LT(info.find("ClosureHook"), info.find("after_run:\n", block));
}

TEST(ClosureHookTest, DirectCallsAtOtherStagesDoNothing) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  int calls = 0;
  ClosureHook hook(Stage::kBeforeTrain, [&](Runner&, const StageArgs&) { ++calls; });
  hook.before_val(runner);
  hook.after_train(runner);
  EXPECT_EQ(calls, 0);
  hook.before_train(runner);
  EXPECT_EQ(calls, 1);
}

TEST(ClosureHookTest, IsNotInTheRegistry) {
  EXPECT_FALSE(hook_registry().contains("ClosureHook"));
  EXPECT_TRUE(hook_registry().contains("EarlyStoppingHook"));
  EXPECT_TRUE(hook_registry().contains("EmptyCacheHook"));
  EXPECT_TRUE(hook_registry().contains("SyncBuffersHook"));
  EXPECT_TRUE(hook_registry().contains("CheckInvalidLossHook"));
}

}  // namespace
}  // namespace mmhook
