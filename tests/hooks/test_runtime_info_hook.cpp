// RuntimeInfoHook (docs/design.md §B4.1; §B9 checks 56–60).

#include <gtest/gtest.h>

#include <torch/types.h>

#include <nlohmann/json.hpp>

#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/loops.h"
#include "mmhook/hooks/runtime_info_hook.h"
#include "mmhook/logging/message_hub.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

TEST(RuntimeInfoHookTest, BeforeRunStoresRunInfo) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  RuntimeInfoHook hook;
  hook.before_run(runner);
  const MessageHub& hub = runner.message_hub();
  EXPECT_EQ(hub.get_info("seed"), 0);
  EXPECT_EQ(hub.get_info("experiment_name").get<std::string>(), runner.experiment_name());
  EXPECT_TRUE(hub.get_info("cfg").is_string());
  EXPECT_NE(hub.get_info("cfg").get<std::string>().find("ToyModel"), std::string::npos);
  EXPECT_TRUE(hub.get_info("mmengine_version").is_string());
}

TEST(RuntimeInfoHookTest, BeforeAndAfterTrain) {
  // Check 56.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.train_loop();  // train() builds the loop before before_train
  RuntimeInfoHook hook;
  hook.before_train(runner);
  const MessageHub& hub = runner.message_hub();
  EXPECT_EQ(hub.get_info("loop_stage"), "train");
  EXPECT_EQ(hub.get_info("epoch"), 0);
  EXPECT_EQ(hub.get_info("iter"), 0);
  EXPECT_EQ(hub.get_info("max_epochs"), 2);
  EXPECT_EQ(hub.get_info("max_iters"), 8);
  EXPECT_EQ(hub.get_info("dataset_meta"), nlohmann::json::object());
  hook.after_train(runner);
  EXPECT_FALSE(hub.has_info("loop_stage"));
  EXPECT_TRUE(hub.get_info("loop_stage").is_null());
}

TEST(RuntimeInfoHookTest, EpochIterAndLearningRate) {
  // Check 57.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  RuntimeInfoHook hook;
  runner.train_loop().set_counters(9, 9);
  hook.before_train_epoch(runner);
  EXPECT_EQ(runner.message_hub().get_info("epoch"), 9);
  hook.before_train_iter(runner, 1, {});
  EXPECT_EQ(runner.message_hub().get_info("iter"), 9);
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("train/lr").current(), 0.1);
}

TEST(RuntimeInfoHookTest, OptimWrapperDictGivesOneLrPerName) {
  // Check 57, OptimWrapperDict: one wrapper per child module gives train/<name>.lr.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["optim_wrapper"] = {{"linear1", {{"optimizer", {{"type", "SGD"}, {"lr", 0.01}}}}},
                          {"linear2", {{"optimizer", {{"type", "SGD"}, {"lr", 0.02}}}}}};
  Runner runner(cfg);
  RuntimeInfoHook hook;
  hook.before_train_iter(runner, 0, {});
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("train/linear1.lr").current(), 0.01);
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("train/linear2.lr").current(), 0.02);
  EXPECT_FALSE(runner.message_hub().has_scalar("train/lr"));
}

TEST(RuntimeInfoHookTest, OutputsBecomeTrainScalars) {
  // Checks 58 and 60: every output key is stored as train/<key>, whatever the tensor dtype.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  RuntimeInfoHook hook;
  TensorDict outputs;
  outputs.set("loss_cls", torch::tensor(1.111, torch::kFloat64));
  hook.after_train_iter(runner, 0, {}, outputs);
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("train/loss_cls").current(), 1.111);

  TensorDict five;
  five.set("f32", torch::tensor(5.0f));
  five.set("i64", torch::tensor(int64_t{5}));
  five.set("i32", torch::tensor(5, torch::kInt32));
  five.set("u8", torch::tensor(5, torch::kUInt8));
  five.set("one_elem", torch::full({1}, 5.0));
  five.set("one_elem_2d", torch::full({1, 1}, 5, torch::kLong));
  hook.after_train_iter(runner, 1, {}, five);
  for (const char* key : {"f32", "i64", "i32", "u8", "one_elem", "one_elem_2d"})
    EXPECT_EQ(runner.message_hub().get_scalar(std::string("train/") + key).current(), 5.0) << key;
  // A second call appends to the same histories; the key order may change between calls.
  TensorDict swapped;
  swapped.set("i64", torch::tensor(int64_t{6}));
  swapped.set("f32", torch::tensor(7.0f));
  hook.after_train_iter(runner, 2, {}, swapped);
  EXPECT_EQ(runner.message_hub().get_scalar("train/i64").log_history(),
            (std::vector<double>{5, 6}));
  EXPECT_EQ(runner.message_hub().get_scalar("train/f32").log_history(),
            (std::vector<double>{5, 7}));
}

TEST(RuntimeInfoHookTest, MetricsBecomeValAndTestScalars) {
  // Check 58.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  RuntimeInfoHook hook;
  hook.after_val_epoch(runner, Metrics{{"acc", 0.8}});
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("val/acc").current(), 0.8);
  EXPECT_FALSE(runner.message_hub().has_scalar("test/acc"));
  hook.after_test_epoch(runner, Metrics{{"acc", 0.8}});
  EXPECT_DOUBLE_EQ(runner.message_hub().get_scalar("test/acc").current(), 0.8);
}

TEST(RuntimeInfoHookTest, LoopStageAcrossValAndTest) {
  // Check 59.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  const MessageHub& hub = runner.message_hub();
  RuntimeInfoHook hook;
  hook.before_run(runner);
  hook.before_train(runner);
  hook.before_val(runner);
  EXPECT_EQ(hub.get_info("loop_stage"), "val");
  hook.after_val(runner);
  EXPECT_EQ(hub.get_info("loop_stage"), "train");
  hook.after_train(runner);
  EXPECT_FALSE(hub.has_info("loop_stage"));

  // Standalone validation ends with no loop stage.
  RuntimeInfoHook alone;
  alone.before_run(runner);
  alone.before_val(runner);
  EXPECT_EQ(hub.get_info("loop_stage"), "val");
  alone.after_val(runner);
  EXPECT_FALSE(hub.has_info("loop_stage"));

  alone.before_test(runner);
  EXPECT_EQ(hub.get_info("loop_stage"), "test");
  alone.after_test(runner);
  EXPECT_FALSE(hub.has_info("loop_stage"));
}

TEST(RuntimeInfoHookTest, EndToEndCountersAreLastIndices) {
  // docs/design.md §B4.1 consequence: after 2 epochs x 4 iters the hub holds epoch 1 and iter 7,
  // and one train/lr and train/loss value per iteration.
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.train();
  const MessageHub& hub = runner.message_hub();
  EXPECT_EQ(hub.get_info("epoch"), 1);
  EXPECT_EQ(hub.get_info("iter"), 7);
  EXPECT_EQ(hub.get_scalar("train/lr").size(), 8u);
  EXPECT_EQ(hub.get_scalar("train/loss").size(), 8u);
  EXPECT_EQ(hub.get_scalar("val/acc").log_history(), (std::vector<double>{1.0, 1.0}));
  EXPECT_FALSE(hub.has_info("loop_stage"));
}

}  // namespace
}  // namespace mmhook
