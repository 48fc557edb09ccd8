// LoggerHook (docs/design.md §B4.5, §B7.4; §B9 checks 18 and 44–49).

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/loops.h"
#include "mmhook/hooks/logger_hook.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/logging/vis_backend.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

// Captures the runner logger's messages for the lifetime of the object.
class RunnerLogCapture {
 public:
  explicit RunnerLogCapture(Runner& runner)
      : logger_(runner.logger()), sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
    logger_.sinks().push_back(sink_);
    logger_.set_level(spdlog::level::info);
  }
  ~RunnerLogCapture() {
    auto& sinks = logger_.sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& msg : sink_->last_raw())
      out.emplace_back(msg.payload.data(), msg.payload.size());
    return out;
  }
  /// The number of messages containing `text`.
  int count(const std::string& text) const {
    int n = 0;
    for (const auto& m : messages()) n += m.find(text) != std::string::npos;
    return n;
  }

 private:
  spdlog::logger& logger_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

nlohmann::json with_samples(nlohmann::json cfg, const char* loader, int64_t samples) {
  cfg[loader]["dataset"]["num_samples"] = samples;
  return cfg;
}

// Puts the train scalars a log line is built from into the hub.
void seed_train_scalars(Runner& runner) {
  MessageHub& hub = runner.message_hub();
  hub.update_scalar("train/lr", 0.1);
  hub.update_scalar("train/data_time", 1.0);
  hub.update_scalar("train/loss", 0.5);
  hub.update_scalar("train/time", 2.0);
}

// ------------------------------------------------------------------------ option validation (44)

TEST(LoggerHookTest, ConstructorRejectsNonPositiveIntervals) {
  LoggerHookOptions o;
  o.interval = -1;
  try {
    LoggerHook hook(o);
    FAIL() << "interval=-1 accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("LoggerHook.interval"), std::string::npos) << msg;
    EXPECT_NE(msg.find("-1"), std::string::npos) << msg;
  }
  o.interval = 0;
  EXPECT_THROW(LoggerHook{o}, Error);
  o.interval = 10;
  o.interval_exp_name = -1;
  try {
    LoggerHook hook(o);
    FAIL() << "interval_exp_name=-1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LoggerHook.interval_exp_name"), std::string::npos);
  }
  o.interval_exp_name = 1000;
  EXPECT_NO_THROW(LoggerHook{o});
}

// Builds a runner whose default logger hook is `hook` and expects a config error naming `path`.
void expect_config_error(const nlohmann::json& hook, const std::string& path) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  nlohmann::json h = hook;
  h["type"] = "LoggerHook";
  cfg["default_hooks"] = {{"logger", h}};
  try {
    Runner runner(cfg);
    FAIL() << "accepted " << hook.dump();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos)
        << hook.dump() << " -> " << e.what();
  }
}

TEST(LoggerHookTest, ConfigErrorsNameTheJsonPath) {
  expect_config_error({{"interval", "100"}}, "default_hooks.logger.interval");
  expect_config_error({{"interval", -1}}, "default_hooks.logger");
  expect_config_error({{"ignore_last", "False"}}, "default_hooks.logger.ignore_last");
  expect_config_error({{"interval_exp_name", "10"}}, "default_hooks.logger.interval_exp_name");
  expect_config_error({{"interval_exp_name", -1}}, "default_hooks.logger");
  expect_config_error({{"out_suffix", {100}}}, "default_hooks.logger.out_suffix");
  expect_config_error({{"out_dir", 1}}, "default_hooks.logger.out_dir");
  expect_config_error({{"keep_local", 1}}, "default_hooks.logger.keep_local");
}

TEST(LoggerHookTest, ConfigOptionsReachTheHook) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"logger",
                           {{"type", "LoggerHook"},
                            {"interval", 3},
                            {"ignore_last", false},
                            {"interval_exp_name", 7},
                            {"log_metric_by_epoch", false},
                            {"out_dir", dir / "out"},
                            {"out_suffix", ".log"},
                            {"keep_local", false}}}};
  Runner runner(cfg);
  auto* hook = dynamic_cast<LoggerHook*>(runner.find_hook("LoggerHook"));
  ASSERT_NE(hook, nullptr);
  const LoggerHookOptions& o = hook->options();
  EXPECT_EQ(o.interval, 3);
  EXPECT_FALSE(o.ignore_last);
  EXPECT_EQ(o.interval_exp_name, 7);
  EXPECT_FALSE(o.log_metric_by_epoch);
  EXPECT_EQ(o.out_dir, dir / "out");
  EXPECT_EQ(o.out_suffix, std::vector<std::string>{".log"});
  EXPECT_FALSE(o.keep_local);
}

// ---------------------------------------------------------------------- after_train_iter (45)

TEST(LoggerHookTest, AfterTrainIterLogsEveryIntervalInnerIters) {
  TempDir dir;
  auto cfg = with_samples(testing::epoch_config(dir.path()), "train_dataloader", 60);  // 20 batches
  cfg["train_cfg"]["max_epochs"] = 10;
  Runner runner(cfg);
  runner.train_loop();
  seed_train_scalars(runner);
  RunnerLogCapture log(runner);
  LoggerHook hook;
  hook.before_run(runner);
  hook.after_train_iter(runner, 5, {}, {});
  EXPECT_EQ(log.count("Epoch(train)"), 0);
  hook.after_train_iter(runner, 9, {}, {});
  EXPECT_EQ(log.count("Epoch(train)"), 1);
  EXPECT_EQ(log.count("[10/20]"), 1);
  // The line's tag went to vis_data/scalars.json with step iter+1.
  runner.train_loop().set_counters(0, 9);
  hook.after_train_iter(runner, 19, {}, {});
  for (auto& backend : runner.vis_backends()) backend->close();
  const auto records = lines_of(runner.log_dir() + "/vis_data/scalars.json");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(records[0])["step"], 1);
  EXPECT_EQ(nlohmann::json::parse(records[1])["step"], 10);
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(records[1])["lr"].get<double>(), 0.1);
}

TEST(LoggerHookTest, LastPartialWindowFollowsIgnoreLast) {
  TempDir dir;
  {
    // A 5-batch loader: with ignore_last=false the last batch (idx 4) logs.
    auto cfg = with_samples(testing::epoch_config(dir / "five"), "train_dataloader", 15);
    Runner runner(cfg);
    runner.train_loop();
    seed_train_scalars(runner);
    RunnerLogCapture log(runner);
    LoggerHookOptions o;
    o.ignore_last = false;
    LoggerHook hook(o);
    hook.after_train_iter(runner, 3, {}, {});
    EXPECT_EQ(log.count("Epoch(train)"), 0);
    hook.after_train_iter(runner, 4, {}, {});
    EXPECT_EQ(log.count("Epoch(train)"), 1);
    EXPECT_EQ(log.count("[5/5]"), 1);
    // ignore_last=true: a 15-batch loader is longer than the interval, so idx 14 stays silent.
  }
  {
    auto cfg = with_samples(testing::epoch_config(dir / "fifteen"), "train_dataloader", 45);
    Runner runner(cfg);
    runner.train_loop();
    seed_train_scalars(runner);
    RunnerLogCapture log(runner);
    LoggerHook hook;
    hook.after_train_iter(runner, 14, {}, {});
    EXPECT_EQ(log.count("Epoch(train)"), 0);
    EXPECT_EQ(log.count("Exp name:"), 1);  // end of epoch still names the experiment
  }
  {
    // A 9-batch loader is not longer than interval 10: the last batch logs despite ignore_last.
    auto cfg = with_samples(testing::epoch_config(dir / "nine"), "train_dataloader", 27);
    Runner runner(cfg);
    runner.train_loop();
    seed_train_scalars(runner);
    RunnerLogCapture log(runner);
    LoggerHook hook;
    hook.after_train_iter(runner, 8, {}, {});
    EXPECT_EQ(log.count("[9/9]"), 1);
  }
}

TEST(LoggerHookTest, ExperimentNameEveryIntervalExpName) {
  TempDir dir;
  auto cfg = with_samples(testing::epoch_config(dir.path()), "train_dataloader", 60);
  cfg["train_cfg"]["max_epochs"] = 10;
  Runner runner(cfg);
  runner.train_loop();
  seed_train_scalars(runner);
  RunnerLogCapture log(runner);
  LoggerHookOptions o;
  o.interval_exp_name = 3;
  LoggerHook hook(o);
  runner.train_loop().set_counters(0, 1);  // iter 2 of 3: no
  hook.after_train_iter(runner, 1, {}, {});
  EXPECT_EQ(log.count("Exp name: " + runner.experiment_name()), 0);
  runner.train_loop().set_counters(0, 2);  // (iter + 1) % 3 == 0
  hook.after_train_iter(runner, 2, {}, {});
  EXPECT_EQ(log.count("Exp name: " + runner.experiment_name()), 1);
}

// ---------------------------------------------------------------- val / test iterations (46)

TEST(LoggerHookTest, AfterValAndTestIterLogEveryInterval) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg = with_samples(cfg, "val_dataloader", 30);   // 10 batches
  cfg = with_samples(cfg, "test_dataloader", 30);  // 10 batches
  Runner runner(cfg);
  runner.train_loop();
  runner.val_loop();
  runner.test_loop();
  RunnerLogCapture log(runner);
  LoggerHook hook;
  hook.after_val_iter(runner, 1, {}, {});
  hook.after_test_iter(runner, 1, {}, {});
  EXPECT_EQ(log.count("Epoch(val)"), 0);
  EXPECT_EQ(log.count("Epoch(test)"), 0);
  hook.after_val_iter(runner, 9, {}, {});
  EXPECT_EQ(log.count("Epoch(val)"), 1);
  EXPECT_EQ(log.count("[10/10]"), 1);
  hook.after_test_iter(runner, 9, {}, {});
  EXPECT_EQ(log.count("Epoch(test) [10/10]"), 1);
  // Eval iterations never write scalars.
  EXPECT_FALSE(fs::exists(runner.log_dir() + "/vis_data/scalars.json"));
}

// ------------------------------------------------------------------------ after_val_epoch (47)

TEST(LoggerHookTest, AfterValEpochAddsScalarsOncePerCall) {
  for (bool by_epoch : {true, false}) {
    TempDir dir;
    Runner runner(testing::epoch_config(dir.path()));
    runner.train_loop().set_counters(3, 12);
    runner.val_loop();
    runner.message_hub().update_scalar("val/acc", 0.8);
    RunnerLogCapture log(runner);
    LoggerHookOptions o;
    o.log_metric_by_epoch = by_epoch;
    LoggerHook hook(o);
    hook.after_val_epoch(runner, Metrics{{"acc", 0.8}});
    for (auto& backend : runner.vis_backends()) backend->close();
    const auto records = lines_of(runner.log_dir() + "/vis_data/scalars.json");
    ASSERT_EQ(records.size(), 1u) << "by_epoch=" << by_epoch;
    const auto rec = nlohmann::json::parse(records[0]);
    EXPECT_DOUBLE_EQ(rec["acc"].get<double>(), 0.8);
    EXPECT_EQ(rec["step"], by_epoch ? 3 : 12);
    EXPECT_EQ(log.count("Epoch(val) [3][4/4]"), 1);
  }
}

TEST(LoggerHookTest, StandaloneValUsesStepZero) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.val_loop();
  runner.message_hub().update_scalar("val/acc", 1.0);
  LoggerHook hook;
  hook.after_val_epoch(runner, Metrics{{"acc", 1.0}});
  for (auto& backend : runner.vis_backends()) backend->close();
  const auto records = lines_of(runner.log_dir() + "/vis_data/scalars.json");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(records[0])["step"], 0);
}

// ----------------------------------------------------------------------- after_test_epoch (48)

TEST(LoggerHookTest, AfterTestEpochDumpsOneJsonDocument) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.test_loop();
  MessageHub& hub = runner.message_hub();
  hub.update_scalar("test/a", 1);
  hub.update_scalar("test/b", 2);
  hub.update_info("test/c", {{"list", {1, 2}}});
  hub.update_info("test/d", {1, 2, 3});  // a tensor metric arrives as a list
  LoggerHook hook;
  hook.after_test_epoch(runner, Metrics{{"a", 1}, {"b", 2}});
  const std::string path = runner.log_dir() + "/" + runner.timestamp() + ".json";
  ASSERT_TRUE(fs::exists(path));
  const auto doc = nlohmann::json::parse(read_file(path));
  EXPECT_EQ(doc,
            nlohmann::json::parse(R"({"a": 1, "b": 2, "c": {"list": [1, 2]}, "d": [1, 2, 3]})"));
  // Overwritten, not appended.
  hub.update_scalar("test/a", 3);
  hook.after_test_epoch(runner, Metrics{{"a", 3}, {"b", 2}});
  const auto again = nlohmann::json::parse(read_file(path));
  EXPECT_EQ(again["a"], 3);
}

// ------------------------------------------------------------------ end to end (18 and 49)

TEST(LoggerHookTest, IntervalLongerThanEpochStillLogsLastBatch) {
  // Check 18: interval 5 with 4 batches per epoch.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["log_level"] = "INFO";
  cfg["default_hooks"] = {{"logger", {{"type", "LoggerHook"}, {"interval", 5}}}};
  Runner runner(cfg);
  runner.train();
  const std::string log = read_file(runner.log_dir() + "/" + runner.timestamp() + ".log");
  EXPECT_NE(log.find("Epoch(train) [1][4/4]"), std::string::npos) << log;
  EXPECT_NE(log.find("Epoch(train) [2][4/4]"), std::string::npos);
}

TEST(LoggerHookTest, TenEpochRunWritesTimestampJson) {
  // Check 49, first part.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 10;
  Runner runner(cfg);
  runner.train();
  const std::string path = runner.log_dir() + "/vis_data/" + runner.timestamp() + ".json";
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(lines_of(path), lines_of(runner.log_dir() + "/vis_data/scalars.json"));
  // Per epoch: the last-batch train record (4 batches <= interval 10) and the val record.
  EXPECT_EQ(lines_of(path).size(), 10u + 10u);
}

std::vector<std::string> relative_files(const std::string& root) {
  std::vector<std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LoggerHookTest, OutDirCopiesLogsBySuffix) {
  // Check 49: out_dir copies, out_suffix filters.
  TempDir dir;
  {
    auto cfg = testing::epoch_config(dir / "work_all");
    cfg["default_hooks"] = {{"logger", {{"type", "LoggerHook"}, {"out_dir", dir / "out"}}}};
    Runner runner(cfg);
    runner.train();
    const std::string out = dir / ("out/work_all");
    const std::string ts = runner.timestamp();
    EXPECT_TRUE(fs::exists(out + "/" + ts + ".log"));
    EXPECT_TRUE(fs::exists(out + "/vis_data/" + ts + ".json"));
    EXPECT_TRUE(fs::exists(out + "/vis_data/scalars.json"));
    EXPECT_TRUE(fs::exists(out + "/vis_data/config.py"));
    // keep_local=true: the local files stay.
    EXPECT_TRUE(fs::exists(runner.log_dir() + "/" + ts + ".log"));
    EXPECT_TRUE(fs::exists(runner.log_dir() + "/vis_data/scalars.json"));
  }
  {
    auto cfg = testing::epoch_config(dir / "work_log");
    cfg["default_hooks"] = {
        {"logger", {{"type", "LoggerHook"}, {"out_dir", dir / "out"}, {"out_suffix", ".log"}}}};
    Runner runner(cfg);
    runner.train();
    EXPECT_EQ(relative_files(dir / "out/work_log"),
              std::vector<std::string>{runner.timestamp() + ".log"});
  }
}

TEST(LoggerHookTest, KeepLocalFalseRemovesLocalCopies) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir / "work");
  cfg["default_hooks"] = {
      {"logger", {{"type", "LoggerHook"}, {"out_dir", dir / "out"}, {"keep_local", false}}}};
  Runner runner(cfg);
  runner.train();
  for (const auto& f : relative_files(runner.log_dir())) {
    for (const char* suffix : {".log", ".json", ".py", "yaml"}) {
      const std::string s(suffix);
      EXPECT_FALSE(f.size() >= s.size() && f.compare(f.size() - s.size(), s.size(), s) == 0)
          << "left under log_dir: " << f;
    }
  }
  EXPECT_TRUE(fs::exists(dir / ("out/work/" + runner.timestamp() + ".log")));
  EXPECT_TRUE(fs::exists(dir / ("out/work/vis_data/" + runner.timestamp() + ".json")));
}

}  // namespace
}  // namespace mmhook
