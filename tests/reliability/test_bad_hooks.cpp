// Bad hooks: a hook that throws (std or not), re-enters the runner, registers hooks mid-run, or
// fails again in on_exception / after_run; and the per-hook time budget. (C hooks that abort or
// return an unknown action code are covered by tests/capi/test_capi.c.)

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mmhook/engine/dispatcher.h"
#include "mmhook/hooks/closure_hook.h"
#include "mmhook/hooks/hook_time_budget_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::RecordingHook;
using testing::TempDir;

struct Outcome {
  std::string message;
  std::string hook;
  std::string stage;
};

// Trains the toy runner with `bad` registered; expects a HookError and checks that
// on_exception and after_run ran (in that order) after the failure.
Outcome train_with(const TempDir& dir, std::shared_ptr<Hook> bad,
                   std::shared_ptr<Hook> also = nullptr) {
  Runner runner(testing::epoch_config(dir.path()));
  auto rec = std::make_shared<RecordingHook>();
  runner.register_hook(rec, 90);
  runner.register_hook(bad, 50);
  // Before the recorder: a hook failing in on_exception or after_run must not keep the hooks
  // after it from theirs.
  if (also) runner.register_hook(also, 85);
  Outcome out;
  try {
    runner.train();
    ADD_FAILURE() << "training succeeded";
  } catch (const HookError& e) {
    out = {e.what(), e.hook(), std::string(stage_name(e.stage()))};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a HookError: " << e.what();
  }
  const auto names = rec->names();
  EXPECT_GE(names.size(), 2u);
  if (names.size() >= 2) {
    EXPECT_EQ(names[names.size() - 2], "on_exception");
    EXPECT_EQ(names.back(), "after_run");
  }
  EXPECT_EQ(rec->last_error, out.message);
  return out;
}

std::shared_ptr<Hook> at_iter(Stage stage, int64_t iter, const std::function<void(Runner&)>& fn) {
  return std::make_shared<ClosureHook>(stage, [iter, fn](Runner& r, const StageArgs&) {
    if (r.iter() == iter) fn(r);
  });
}

TEST(BadHookTest, StdExceptionNamesHookAndStage) {
  TempDir dir;
  const auto out = train_with(dir, at_iter(Stage::kAfterTrainIter, 3, [](Runner&) {
                                throw std::runtime_error("disk on fire");
                              }));
  EXPECT_EQ(out.hook, "ClosureHook");
  EXPECT_EQ(out.stage, "after_train_iter");
  EXPECT_NE(
      out.message.find("hook 'ClosureHook' (ClosureHook) failed at after_train_iter: disk on fire"),
      std::string::npos)
      << out.message;
}

TEST(BadHookTest, NonStdExceptionIsUnknownException) {
  TempDir dir;
  const auto out = train_with(dir, at_iter(Stage::kBeforeTrainIter, 2, [](Runner&) { throw 42; }));
  EXPECT_EQ(out.stage, "before_train_iter");
  EXPECT_NE(out.message.find("unknown exception"), std::string::npos) << out.message;
}

TEST(BadHookTest, NestedTrainFromAHookIsRefused) {
  TempDir dir;
  const auto out =
      train_with(dir, at_iter(Stage::kAfterTrainIter, 1, [](Runner& r) { r.train(); }));
  EXPECT_EQ(out.stage, "after_train_iter");
  EXPECT_NE(out.message.find("Runner::train is not allowed while the runner is running"),
            std::string::npos)
      << out.message;
}

TEST(BadHookTest, NestedValAndTestFromAHookAreRefused) {
  for (const bool val : {true, false}) {
    TempDir dir;
    const auto out = train_with(dir, at_iter(Stage::kBeforeTrainEpoch, 0, [val](Runner& r) {
                                  if (val) {
                                    (void)r.val();
                                  } else {
                                    (void)r.test();
                                  }
                                }));
    EXPECT_EQ(out.stage, "before_train_epoch");
    EXPECT_NE(out.message.find(val ? "Runner::val is not allowed" : "Runner::test is not allowed"),
              std::string::npos)
        << out.message;
  }
}

// Registering a hook while the dispatcher iterates over the hook lists would invalidate them
// (a use-after-free under AddressSanitizer before the check existed).
TEST(BadHookTest, RegisteringAHookMidRunIsRefused) {
  TempDir dir;
  const auto out = train_with(dir, at_iter(Stage::kAfterTrainIter, 2, [](Runner& r) {
                                r.register_hook(std::make_shared<RecordingHook>(), 10);
                              }));
  EXPECT_NE(out.message.find("register_hook is not allowed while the runner is running"),
            std::string::npos)
      << out.message;
  TempDir dir2;
  const auto from_cfg = train_with(dir2, at_iter(Stage::kAfterTrainIter, 2, [](Runner& r) {
                                     r.register_hook(nlohmann::json{{"type", "IterTimerHook"}});
                                   }));
  EXPECT_NE(from_cfg.message.find("register_hook is not allowed"), std::string::npos)
      << from_cfg.message;
}

// Fails in both stages that run while a failure is handled.
class FailsWhileHandling : public HookImpl<FailsWhileHandling> {
 public:
  void on_exception(Runner&, const std::string&) override {
    throw std::runtime_error("on_exception failed too");
  }
  void after_run(Runner&) override { throw std::runtime_error("after_run failed too"); }
};

// A hook that fails again while the failure is handled (in on_exception and in after_run): the
// first error is the one raised, and the hooks after it still get on_exception and after_run
// (train_with checks the recorder, which comes after it).
TEST(BadHookTest, FailuresInOnExceptionAndAfterRunDoNotHideTheFirstError) {
  TempDir dir;
  auto again = std::make_shared<FailsWhileHandling>();
  const auto out = train_with(dir,
                              at_iter(Stage::kAfterTrainIter, 2,
                                      [](Runner&) { throw std::runtime_error("first failure"); }),
                              again);
  EXPECT_NE(out.message.find("first failure"), std::string::npos) << out.message;
  EXPECT_EQ(out.message.find("on_exception failed too"), std::string::npos) << out.message;
}

TEST(BadHookTest, TheRunnerIsUsableAfterAFailedRun) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  bool fail = true;
  runner.register_hook(
      std::make_shared<ClosureHook>(Stage::kAfterTrainIter, [&fail](Runner&, const StageArgs&) {
        if (fail) throw std::runtime_error("once");
      }));
  EXPECT_THROW(runner.train(), HookError);
  fail = false;
  EXPECT_NO_THROW((void)runner.val());
}

// ----------------------------------------------------------------------------- time budget

TEST(HookTimeBudgetTest, WarnsOncePerSlowHookAndStage) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = nlohmann::json::array({{{"type", "HookTimeBudgetHook"},
                                                {"budget_ms", 1000},
                                                {"budgets_ms", {{"ClosureHook", 5}}},
                                                {"interval", 1}}});
  Runner runner(cfg);
  runner.register_hook(
      std::make_shared<ClosureHook>(Stage::kAfterTrainIter, [](Runner& r, const StageArgs&) {
        if (r.iter() == 2) std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }));
  runner.train();
  auto* budget = dynamic_cast<HookTimeBudgetHook*>(runner.dispatcher().find("HookTimeBudgetHook"));
  ASSERT_NE(budget, nullptr);
  EXPECT_DOUBLE_EQ(budget->budget_of("ClosureHook"), 5.0);
  EXPECT_DOUBLE_EQ(budget->budget_of("LoggerHook"), 1000.0);
  ASSERT_EQ(budget->reported().size(), 1u);
  EXPECT_EQ(budget->reported().begin()->first, "ClosureHook");
  EXPECT_EQ(budget->reported().begin()->second, "after_train_iter");
  std::string log;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
    if (e.path().extension() == ".log") {
      std::ifstream in(e.path());
      log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  EXPECT_NE(log.find("hook 'ClosureHook' exceeded its time budget at after_train_iter"),
            std::string::npos)
      << log;
}

TEST(HookTimeBudgetTest, OptionsAreChecked) {
  HookTimeBudgetOptions o;
  o.budget_ms = 0;
  EXPECT_THROW(HookTimeBudgetHook{o}, Error);
  o.budget_ms = 1;
  o.interval = 0;
  EXPECT_THROW(HookTimeBudgetHook{o}, Error);
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = nlohmann::json::array(
      {{{"type", "HookTimeBudgetHook"}, {"budgets_ms", {{"LoggerHook", "fast"}}}}});
  try {
    Runner runner(cfg);
    ADD_FAILURE() << "accepted a string budget";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("budgets_ms.LoggerHook: expected a number"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mmhook
