// EarlyStoppingHook against MMEngine's numbers (docs/design.md §B4.8, §B9 checks 69–70) and its
// checkpointed state (mmhook's addition).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <mutex>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/log_callback.h"
#include "mmhook/engine/loops.h"
#include "mmhook/hooks/early_stopping_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

EarlyStoppingHookOptions opts(const std::string& monitor, const std::string& rule = "") {
  EarlyStoppingHookOptions o;
  o.monitor = monitor;
  o.rule = rule;
  return o;
}

// Collects warnings and info records of every runner while alive.
class LogCapture {
 public:
  LogCapture() {
    set_log_callback([this](int level, const std::string& msg) {
      std::lock_guard<std::mutex> lock(mu_);
      records.emplace_back(level, msg);
    });
  }
  ~LogCapture() { set_log_callback({}); }
  bool has(int level, const std::string& part) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [l, m] : records)
      if (l == level && m.find(part) != std::string::npos) return true;
    return false;
  }
  std::vector<std::pair<int, std::string>> records;

 private:
  std::mutex mu_;
};

// Feeds `values` of `key` to the hook until it stops; returns whether it stopped.
bool feed(Runner& runner, EarlyStoppingHook& hook, const std::string& key,
          const std::vector<double>& values) {
  runner.train_loop().stop_training = false;
  hook.before_run(runner);
  for (double v : values) {
    hook.after_val_epoch(runner, Metrics{{key, v}});
    if (runner.train_loop().stop_training) return true;
  }
  return false;
}

std::vector<double> linspace(double a, double b, int n) {
  std::vector<double> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(a + (b - a) * i / (n - 1));
  return out;
}

TEST(EarlyStoppingHookTest, RuleInference) {  // check 69
  for (const char* k : {"acc", "ACC", "mAP_50"}) {
    EarlyStoppingHook h(opts(k));
    EXPECT_EQ(h.rule(), "greater") << k;
    EXPECT_LT(h.best_score(), 0) << k;
    EXPECT_DOUBLE_EQ(h.min_delta(), 0.1);
  }
  for (const char* k : {"loss", "Loss", "ce_loss"}) {
    EarlyStoppingHook h(opts(k));
    EXPECT_EQ(h.rule(), "less") << k;
    EXPECT_GT(h.best_score(), 0) << k;
    EXPECT_DOUBLE_EQ(h.min_delta(), -0.1);
  }
  EXPECT_THROW(EarlyStoppingHook(opts("recall")), Error);
  try {
    EarlyStoppingHook h(opts("acc", "bigger"));
    FAIL() << "a bad rule must be rejected";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bigger"), std::string::npos);
  }
  EXPECT_THROW(EarlyStoppingHook(opts("")), Error);
}

TEST(EarlyStoppingHookTest, BeforeRunNeedsTrainLoop) {  // check 69
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg.erase("train_dataloader");
  cfg.erase("train_cfg");
  cfg.erase("optim_wrapper");
  Runner runner(cfg);
  EarlyStoppingHook hook(opts("acc"));
  try {
    hook.before_run(runner);
    FAIL() << "before_run must require a train loop";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("stop_training"), std::string::npos) << e.what();
  }

  // Its own work_dir: the first runner still holds (locks) dir.
  Runner with_loop(testing::epoch_config(dir / "with_loop"));
  EXPECT_NO_THROW(hook.before_run(with_loop));
  EXPECT_TRUE(with_loop.train_loop_built());
}

TEST(EarlyStoppingHookTest, MissingMonitorWarnsOrThrowsWhenStrict) {  // check 70
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  LogCapture log;
  EarlyStoppingHook hook(opts("acc"));
  hook.after_val_epoch(runner, Metrics{{"top5", 0.5}});
  EXPECT_TRUE(log.has(30, "do not include `monitor` (acc)"));
  EXPECT_FALSE(runner.train_loop().stop_training);
  EXPECT_EQ(hook.wait_count(), 0);

  auto o = opts("acc");
  o.strict = true;
  EarlyStoppingHook strict(o);
  EXPECT_THROW(strict.after_val_epoch(runner, Metrics{{"top5", 0.5}}), Error);
}

TEST(EarlyStoppingHookTest, MMEngineSequences) {  // check 70
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));

  std::vector<double> top1;
  top1.reserve(8);
  for (int i = 0; i < 8; ++i) top1.push_back(i / 9.0);
  EarlyStoppingHook greater(opts("accuracy/top1", "greater"));
  EXPECT_FALSE(feed(runner, greater, "accuracy/top1", top1));
  EXPECT_DOUBLE_EQ(greater.best_score(), 7 / 9.0);

  std::vector<double> loss;
  for (int i = 8; i > 0; --i) loss.push_back(i / 9.0);
  EarlyStoppingHook less(opts("loss"));
  EXPECT_FALSE(feed(runner, less, "loss", loss));
  EXPECT_DOUBLE_EQ(less.best_score(), 1 / 9.0);

  auto o = opts("accuracy/top1", "greater");
  o.min_delta = 1;
  EarlyStoppingHook stops(o);
  EXPECT_TRUE(feed(runner, stops, "accuracy/top1", linspace(98, 99, 8)));
  EXPECT_EQ(stops.wait_count(), 5);  // default patience
  EXPECT_DOUBLE_EQ(stops.best_score(), 98);

  o.patience = 10;
  EarlyStoppingHook patient(o);
  EXPECT_FALSE(feed(runner, patient, "accuracy/top1", linspace(98, 99, 8)));
  // The last value, 99, equals best + min_delta exactly: not "not improved", so it is the best.
  EXPECT_EQ(patient.wait_count(), 0);
  EXPECT_DOUBLE_EQ(patient.best_score(), 99);

  EarlyStoppingHook finite(opts("accuracy/top1", "greater"));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(feed(runner, finite, "accuracy/top1", {inf, inf, inf, inf, inf}));

  auto t = opts("accuracy/top1", "greater");
  t.stopping_threshold = 98.5;
  t.patience = 0;
  EarlyStoppingHook threshold(t);
  EXPECT_TRUE(feed(runner, threshold, "accuracy/top1", linspace(98, 99, 8)));
  EXPECT_NEAR(threshold.best_score(), 98 + 4 / 7.0, 1e-12);
}

// Accuracy 90, 91, 92, 88, 89, 90 with min_delta 1 and patience 3: best 92 after epoch 3,
// then three records without improvement stop training after epoch 6 of 10.
nlohmann::json stopping_config(const std::string& work_dir) {
  auto cfg = testing::epoch_config(work_dir);
  cfg["train_cfg"]["max_epochs"] = 10;
  cfg["val_evaluator"] = {{"type", "ToyMetric"}, {"values", {90, 91, 92, 88, 89, 90}}};
  cfg["custom_hooks"] = nlohmann::json::array(
      {{{"type", "EarlyStoppingHook"}, {"monitor", "acc"}, {"min_delta", 1}, {"patience", 3}}});
  cfg["log_level"] = "INFO";
  return cfg;
}

TEST(EarlyStoppingHookTest, StopsRunnerAfterEpochSix) {
  TempDir dir;
  LogCapture log;
  Runner runner(stopping_config(dir.path()));
  runner.train();
  EXPECT_EQ(runner.epoch(), 6);
  EXPECT_TRUE(runner.train_loop().stop_training);
  auto* hook = dynamic_cast<EarlyStoppingHook*>(runner.find_hook("EarlyStoppingHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->best_score(), 92);
  EXPECT_EQ(hook->wait_count(), 3);
  EXPECT_TRUE(log.has(20, "did not improve in the last 3 records. best score: 92.000"));

  // The state went into every checkpoint. CheckpointHook saves in after_train_epoch, before that
  // epoch's validation: epoch_6.pth holds the state after 5 records (best 92, wait count 2).
  Checkpoint ckpt = load_checkpoint_file(dir / "epoch_6.pth");
  auto best = ckpt.get_hook_state("EarlyStoppingHook", "best_score");
  auto wait = ckpt.get_hook_state("EarlyStoppingHook", "wait_count");
  ASSERT_TRUE(best && wait);
  EXPECT_EQ(best->toDouble(), 92);
  EXPECT_EQ(wait->toInt(), 2);
  EXPECT_EQ(ckpt.get_hook_state("EarlyStoppingHook", "monitor")->toStringRef(), "acc");
}

TEST(EarlyStoppingHookTest, ResumeRestoresBestScoreAndWaitCount) {
  TempDir dir;
  {
    auto cfg = stopping_config(dir.path());
    cfg["train_cfg"]["max_epochs"] = 4;
    Runner runner(cfg);
    runner.train();
  }
  // epoch_4.pth was saved before the 4th validation: best 92, wait count 0. The resumed
  // ToyMetric starts its sequence again (90, 91, 92, ...): with the restored best of 92 none
  // of them improves by 1, so three records stop training after epoch 7. A fresh hook would
  // see 90, 91, 92, 88, 89, 90 and run to epoch 10.
  auto cfg = stopping_config(dir.path());
  cfg["resume"] = true;
  Runner runner(cfg);
  runner.train();
  auto* hook = dynamic_cast<EarlyStoppingHook*>(runner.find_hook("EarlyStoppingHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(runner.epoch(), 7);
  EXPECT_EQ(hook->best_score(), 92);
  EXPECT_EQ(hook->wait_count(), 3);
}

TEST(EarlyStoppingHookTest, StateOfAnotherMonitorIsIgnored) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  Checkpoint ckpt;
  ckpt.put_hook_state("EarlyStoppingHook", "monitor", c10::IValue(std::string("loss")));
  ckpt.put_hook_state("EarlyStoppingHook", "rule", c10::IValue(std::string("less")));
  ckpt.put_hook_state("EarlyStoppingHook", "best_score", c10::IValue(0.5));
  ckpt.put_hook_state("EarlyStoppingHook", "wait_count", c10::IValue(int64_t{4}));
  auto hook = std::make_shared<EarlyStoppingHook>(opts("acc"));
  runner.register_hook(hook);
  hook->after_load_checkpoint(runner, ckpt);
  EXPECT_EQ(hook->best_score(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(hook->wait_count(), 0);
}

TEST(EarlyStoppingHookTest, ConfigErrorsNameThePath) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] =
      nlohmann::json::array({{{"type", "EarlyStoppingHook"}, {"monitor", "recall"}}});
  try {
    Runner runner(cfg);
    runner.train();
    FAIL() << "an undecidable rule must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("custom_hooks[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("recall"), std::string::npos) << e.what();
  }
  cfg["custom_hooks"] = nlohmann::json::array({{{"type", "EarlyStoppingHook"}}});
  EXPECT_THROW(
      {
        Runner runner(cfg);
        runner.train();
      },
      Error);
}

}  // namespace
}  // namespace mmhook
