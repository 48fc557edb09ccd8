// SyncBuffersHook's called_in_train bookkeeping with one process (docs/design.md §B4.9).

#include <gtest/gtest.h>

#include "mmhook/hooks/sync_buffers_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

TEST(SyncBuffersHookTest, SyncsAfterTrainEpochsAndStandaloneValOnly) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = nlohmann::json::array({{{"type", "SyncBuffersHook"}}});
  Runner runner(cfg);
  auto* hook = dynamic_cast<SyncBuffersHook*>(runner.find_hook("SyncBuffersHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->triggered_stages(),
            stage_bit(Stage::kAfterTrainEpoch) | stage_bit(Stage::kBeforeValEpoch));

  runner.train();
  // Each of the 2 epochs syncs after training; the validation that follows does not sync again
  // and clears the flag.
  EXPECT_EQ(hook->sync_count(), 2);
  EXPECT_FALSE(hook->called_in_train());

  runner.val();  // not preceded by a train epoch: syncs
  EXPECT_EQ(hook->sync_count(), 3);
  EXPECT_FALSE(hook->called_in_train());
}

TEST(SyncBuffersHookTest, FlagFollowsMMEngine) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["val_interval"] = 1000000;  // validation only after the last epoch
  Runner runner(cfg);
  SyncBuffersHook hook;
  hook.after_train_epoch(runner);
  EXPECT_TRUE(hook.called_in_train());
  EXPECT_EQ(hook.sync_count(), 1);
  hook.after_train_epoch(runner);  // an epoch without validation
  EXPECT_EQ(hook.sync_count(), 2);
  hook.before_val_epoch(runner);
  EXPECT_FALSE(hook.called_in_train());
  EXPECT_EQ(hook.sync_count(), 2);
  hook.before_val_epoch(runner);
  EXPECT_EQ(hook.sync_count(), 3);
}

}  // namespace
}  // namespace mmhook
