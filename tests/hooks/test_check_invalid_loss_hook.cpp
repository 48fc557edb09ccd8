// CheckInvalidLossHook: "stop" raises an Error naming the iteration, "skip" undoes the step
// (parameters and optimizer state) so training goes on with finite weights.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/hooks/check_invalid_loss_hook.h"
#include "mmhook/hooks/closure_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

// A config whose batch at global iteration `bad_iter` is filled with NaN before the forward
// pass (through a ClosureHook at before_train_iter), with SGD momentum so that a NaN step would
// also poison the optimizer state.
std::unique_ptr<Runner> poisoned_runner(const std::string& work_dir, int64_t bad_iter,
                                        const nlohmann::json& guard) {
  auto cfg = testing::epoch_config(work_dir);
  cfg["optim_wrapper"]["optimizer"]["momentum"] = 0.9;
  cfg["custom_hooks"] = nlohmann::json::array({guard});
  auto runner = std::make_unique<Runner>(cfg);
  runner->register_hook(std::make_shared<ClosureHook>(
      Stage::kBeforeTrainIter, [bad_iter](Runner& r, const StageArgs& a) {
        if (r.iter() == bad_iter)
          a.data_batch->find("inputs")->fill_(std::numeric_limits<float>::quiet_NaN());
      }));
  return runner;
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

TEST(CheckInvalidLossHookTest, StopNamesTheIteration) {
  TempDir dir;
  auto runner = poisoned_runner(dir.path(), 5, {{"type", "CheckInvalidLossHook"}, {"interval", 1}});
  try {
    runner->train();
    FAIL() << "a NaN loss must stop training";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("loss became infinite or NaN at train iteration 6 (epoch 2)"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("CheckInvalidLossHook"), std::string::npos) << msg;
  }
  EXPECT_EQ(runner->iter(), 5);
}

TEST(CheckInvalidLossHookTest, IntervalDelaysTheCheck) {
  TempDir dir;
  // NaN at iteration index 5 corrupts the weights; the next checked iteration is index 7
  // ((7 + 1) % 4 == 0).
  auto runner = poisoned_runner(dir.path(), 5, {{"type", "CheckInvalidLossHook"}, {"interval", 4}});
  try {
    runner->train();
    FAIL() << "a NaN loss must stop training";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at train iteration 8 (epoch 2)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(runner->iter(), 7);
}

TEST(CheckInvalidLossHookTest, SkipUndoesTheStep) {
  TempDir dir;
  auto runner = poisoned_runner(
      dir.path(), 5, {{"type", "CheckInvalidLossHook"}, {"interval", 1}, {"on_invalid", "skip"}});
  std::vector<float> before_bad, after_bad;
  runner->register_hook(
      std::make_shared<ClosureHook>(Stage::kBeforeTrainIter, [&](Runner& r, const StageArgs&) {
        if (r.iter() == 5) before_bad = testing::flat_params(r);
        if (r.iter() == 6) after_bad = testing::flat_params(r);
      }));
  runner->train();
  auto* hook = dynamic_cast<CheckInvalidLossHook*>(runner->find_hook("CheckInvalidLossHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->skipped(), 1);
  EXPECT_EQ(runner->iter(), 8);
  ASSERT_FALSE(before_bad.empty());
  EXPECT_EQ(before_bad, after_bad);  // the NaN step left no trace in the weights
  // The momentum buffers were restored too, otherwise the following steps would be NaN.
  EXPECT_TRUE(all_finite(testing::flat_params(*runner)));
  EXPECT_NE(testing::flat_params(*runner), after_bad);
}

TEST(CheckInvalidLossHookTest, FiniteLossesChangeNothing) {
  TempDir dir;
  std::vector<float> plain, guarded;
  {
    Runner runner(testing::epoch_config(dir / "a"));
    runner.train();
    plain = testing::flat_params(runner);
  }
  {
    auto cfg = testing::epoch_config(dir / "b");
    cfg["custom_hooks"] = nlohmann::json::array(
        {{{"type", "CheckInvalidLossHook"}, {"interval", 1}, {"on_invalid", "skip"}}});
    Runner runner(cfg);
    runner.train();
    guarded = testing::flat_params(runner);
  }
  EXPECT_EQ(plain, guarded);
}

TEST(CheckInvalidLossHookTest, Options) {
  CheckInvalidLossHook d;
  EXPECT_EQ(d.interval(), 50);
  EXPECT_EQ(d.on_invalid(), "stop");
  EXPECT_EQ(d.triggered_stages(),
            stage_bit(Stage::kBeforeTrainIter) | stage_bit(Stage::kAfterTrainIter));
  EXPECT_THROW(CheckInvalidLossHook(0), Error);
  EXPECT_THROW(CheckInvalidLossHook(1, "ignore"), Error);

  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] =
      nlohmann::json::array({{{"type", "CheckInvalidLossHook"}, {"on_invalid", "ignore"}}});
  try {
    Runner runner(cfg);
    runner.train();
    FAIL() << "a bad on_invalid must be rejected";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_NE(std::string(e.what()).find("custom_hooks[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ignore"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
