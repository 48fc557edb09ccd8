// docs/design.md §B7.3 and §B9 checks 50-55 (MMEngine tests/test_runner/test_log_processor.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/logging/log_processor.h"

namespace mmhook {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// The runner of MMEngine's test: epoch 1, max_epochs 10, iter 10, max_iters 50, loaders
// 20/10/5; batch_idx 1.
LogContext runner_ctx(Mode mode) {
  LogContext ctx;
  ctx.mode = mode;
  ctx.batch_idx = 1;
  ctx.epoch = 1;
  ctx.iter = 10;
  ctx.max_epochs = 10;
  ctx.max_iters = 50;
  ctx.dataloader_len = mode == Mode::kTrain ? 20 : (mode == Mode::kVal ? 10 : 5);
  return ctx;
}

LogProcessor make(bool by_epoch, bool hierarchy = false, json custom_cfg = json::array()) {
  LogProcessor::Options o;
  o.by_epoch = by_epoch;
  o.log_with_hierarchy = hierarchy;
  o.custom_cfg = std::move(custom_cfg);
  return LogProcessor(o);
}

// Check 50.
TEST(LogProcessorTest, DefaultsAndCustomCfgValidation) {
  LogProcessor lp{LogProcessor::Options{}};
  EXPECT_EQ(lp.options().window_size, 10);
  EXPECT_TRUE(lp.options().by_epoch);
  EXPECT_EQ(lp.options().custom_cfg, json::array());
  EXPECT_EQ(lp.options().num_digits, 4);
  EXPECT_FALSE(lp.options().log_with_hierarchy);

  // window_size 'epoch' with by_epoch=False.
  EXPECT_THROW(
      make(false, false,
           json::parse(R"([{"data_src":"loss","window_size":"epoch","method_name":"mean"}])")),
      Error);
  // Duplicate log_name.
  EXPECT_THROW(make(true, false,
                    json::parse(R"([{"data_src":"loss","log_name":"loss_1","method_name":"mean"},
                                                 {"data_src":"loss","log_name":"loss_1","method_name":"max"}])")),
               Error);
  // The same data_src overwritten twice.
  EXPECT_THROW(make(true, false, json::parse(R"([{"data_src":"loss","method_name":"mean"},
                                                 {"data_src":"loss","method_name":"max"}])")),
               Error);
  // The accepted example of MMEngine's test.
  EXPECT_NO_THROW(make(true, false, json::parse(R"([
      {"data_src":"loss_cls","window_size":100,"method_name":"min"},
      {"data_src":"loss","log_name":"loss_min","method_name":"max"},
      {"data_src":"loss","log_name":"loss_max","method_name":"max"}])")));
  // Bad window type, unknown key, bad regex.
  EXPECT_THROW(make(true, false,
                    json::parse(R"([{"data_src":"loss","window_size":[],"method_name":"mean"}])")),
               Error);
  EXPECT_THROW(make(true, false,
                    json::parse(R"([{"data_src":"loss","method_name":"mean","windw_size":3}])")),
               Error);
  LogProcessor::Options bad;
  bad.mean_pattern = "(unclosed";
  EXPECT_THROW(LogProcessor{bad}, Error);
}

TEST(LogProcessorTest, FromConfig) {
  LogProcessor lp = LogProcessor::from_config(ConfigNode(
      json::parse(R"({"type":"LogProcessor","window_size":5,"by_epoch":false,"num_digits":2,
                      "custom_cfg":[{"data_src":"loss","method_name":"mean","window_size":"global"}]})"),
      "log_processor"));
  EXPECT_EQ(lp.options().window_size, 5);
  EXPECT_FALSE(lp.options().by_epoch);
  EXPECT_EQ(lp.options().num_digits, 2);
  ASSERT_EQ(lp.custom_entries().size(), 1u);
  EXPECT_EQ(lp.custom_entries()[0].log_name, "loss");
  EXPECT_THROW(
      LogProcessor::from_config(ConfigNode(json::parse(R"({"windw_size":5})"), "log_processor")),
      Error);
  EXPECT_THROW(
      LogProcessor::from_config(ConfigNode(json::parse(R"({"type":"Other"})"), "log_processor")),
      Error);
  EXPECT_THROW(LogProcessor::from_config(ConfigNode(json::parse(R"({"by_epoch":false,
      "custom_cfg":[{"data_src":"loss","method_name":"mean","window_size":"epoch"}]})"),
                                                    "log_processor")),
               Error);
}

// Check 51.
TEST(LogProcessorTest, ParseWindowSize) {
  const LogContext ctx = runner_ctx(Mode::kTrain);
  EXPECT_EQ(LogProcessor::parse_window_size("epoch", ctx), 2);
  EXPECT_EQ(LogProcessor::parse_window_size("global", ctx), 11);
  EXPECT_EQ(LogProcessor::parse_window_size(100, ctx), 100);
  EXPECT_EQ(LogProcessor::parse_window_size(nullptr, ctx), -1);
  EXPECT_THROW(LogProcessor::parse_window_size(json::array(), ctx), Error);
  EXPECT_THROW(LogProcessor::parse_window_size("weekly", ctx), Error);
}

// Check 52: every by_epoch x mode x hierarchy combination of MMEngine's test_get_log_after_iter.
class LogAfterIterTest : public ::testing::TestWithParam<std::tuple<bool, Mode, bool>> {};

TEST_P(LogAfterIterTest, ExactLine) {
  const auto [by_epoch, mode, hierarchy] = GetParam();
  const std::string m(mode_name(mode));
  MessageHub hub("log_after_iter");
  hub.update_info("eta", 40);
  if (mode == Mode::kTrain) hub.update_scalar("train/lr", 0.1);
  hub.update_scalar(m + "/time", 1.0);
  hub.update_scalar(m + "/data_time", 1.0);
  hub.update_scalar(m + "/loss_cls", 1.0);
  const LogProcessor lp = make(by_epoch, hierarchy);

  for (const int64_t memory : {int64_t{-1}, int64_t{100}}) {
    LogContext ctx = runner_ctx(mode);
    ctx.memory_mb = memory;
    const auto [tag, line] = lp.get_log_after_iter(hub, ctx);
    std::string expected;
    if (by_epoch) {
      if (mode == Mode::kTrain) expected = "Epoch(train)  [2][ 2/20]  ";
      if (mode == Mode::kVal) expected = "Epoch(val)  [1][ 2/10]  ";
      if (mode == Mode::kTest) expected = "Epoch(test) [2/5]  ";
    } else {
      if (mode == Mode::kTrain) expected = "Iter(train) [11/50]  ";
      if (mode == Mode::kVal) expected = "Iter(val) [ 2/10]  ";
      if (mode == Mode::kTest) expected = "Iter(test) [2/5]  ";
    }
    expected += mode == Mode::kTrain ? "lr: 1.0000e-01  " : "  ";
    expected += "eta: 0:00:40  time: 1.0000  data_time: 1.0000  ";
    if (memory >= 0) expected += "memory: 100  ";
    if (mode == Mode::kTrain) expected += "loss_cls: 1.0000";
    EXPECT_EQ(line, expected);

    // The tag: every collected scalar, then epoch (by_epoch train/val), iter, memory.
    const std::string p = hierarchy ? m + "/" : "";
    std::vector<std::string> keys;
    if (mode == Mode::kTrain) keys.push_back(p + "lr");
    for (const char* k : {"time", "data_time", "loss_cls"}) keys.push_back(p + k);
    if (by_epoch && mode != Mode::kTest) keys.push_back("epoch");
    keys.push_back("iter");
    if (memory >= 0) keys.push_back("memory");
    std::vector<std::string> got;
    for (auto it = tag.begin(); it != tag.end(); ++it) got.push_back(it.key());
    EXPECT_EQ(got, keys);
    EXPECT_EQ(tag["iter"], 11);
    if (by_epoch && mode == Mode::kTrain) {
      EXPECT_EQ(tag["epoch"], 2);
    }
    if (by_epoch && mode == Mode::kVal) {
      EXPECT_EQ(tag["epoch"], 1);
    }
    if (memory >= 0) {
      EXPECT_EQ(tag["memory"], 100);
    }
    EXPECT_DOUBLE_EQ(tag[p + "time"].get<double>(), 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, LogAfterIterTest,
    ::testing::Combine(::testing::Bool(), ::testing::Values(Mode::kTrain, Mode::kVal, Mode::kTest),
                       ::testing::Bool()));

TEST(LogProcessorTest, AfterIterSmoothsLossesAndRightAlignsEpochs) {
  MessageHub hub("smoothing");
  for (int i = 1; i <= 12; ++i) {
    hub.update_scalar("train/lr", 0.01 * i);
    hub.update_scalar("train/loss", i);
    hub.update_scalar("train/acc", i);
  }
  LogContext ctx = runner_ctx(Mode::kTrain);
  ctx.epoch = 99;
  ctx.max_epochs = 100;
  ctx.batch_idx = 9;
  ctx.dataloader_len = 270;
  const auto [tag, line] = make(true).get_log_after_iter(hub, ctx);
  // No eta info: no eta/time block. loss: mean of the last 10 (3..12); acc and lr: current.
  EXPECT_EQ(line, "Epoch(train) [100][ 10/270]  lr: 1.2000e-01  loss: 7.5000  acc: 12.0000");
  EXPECT_DOUBLE_EQ(tag["loss"].get<double>(), 7.5);

  // Standalone val (no train loop): epoch 0 without alignment, tag iter 0.
  MessageHub val_hub("standalone");
  val_hub.update_scalar("val/loss_x", 2.0);
  LogContext vctx = runner_ctx(Mode::kVal);
  vctx.train_loop_built = false;
  const auto [vtag, vline] = make(true, true).get_log_after_iter(val_hub, vctx);
  EXPECT_EQ(vline, "Epoch(val)[0][ 2/10]    ");
  EXPECT_EQ(vtag["iter"], 0);
  EXPECT_EQ(vtag["epoch"], 0);
}

TEST(LogProcessorTest, EtaIsFormattedLikeTimedelta) {
  MessageHub hub("eta");
  hub.update_scalar("train/time", 0.5);
  hub.update_scalar("train/data_time", 0.25);
  hub.update_info("eta", 90061.9);  // 1 day, 1:01:01 after int()
  LogContext ctx = runner_ctx(Mode::kTrain);
  const auto [tag, line] = make(false).get_log_after_iter(hub, ctx);
  EXPECT_EQ(line, "Iter(train) [11/50]    eta: 1 day, 1:01:01  time: 0.5000  data_time: 0.2500  ");
}

// Check 53, with the non-scalar infos a JSON hub can hold (a tensor has no JSON form, so the
// `cm` item prints as a Python list here).
TEST(LogProcessorTest, AfterEpochLine) {
  for (const bool by_epoch : {true, false}) {
    for (const Mode mode : {Mode::kVal, Mode::kTest}) {
      const std::string m(mode_name(mode));
      MessageHub hub("after_epoch");
      hub.update_scalar(m + "/accuracy", 0.9);
      hub.update_scalar(m + "/data_time", 1.0);
      hub.update_info(m + "/recall", json{{"cat", 1}, {"dog", 0}});
      hub.update_info(m + "/cm", json{1, 2, 3});
      hub.update_info("eta", 5);
      LogContext ctx = runner_ctx(mode);
      ctx.batch_idx = ctx.dataloader_len;  // LoggerHook passes len(loader)
      const LogProcessor lp = make(by_epoch);
      const auto [tag, line] = lp.get_log_after_epoch(hub, ctx);
      const std::string metrics =
          "accuracy: 0.9000  recall: {'cat': 1, 'dog': 0}  cm: [1, 2, 3]  data_time: 1.0000";
      std::string prefix;
      if (by_epoch)
        prefix = mode == Mode::kVal ? "Epoch(val) [1][10/10]    " : "Epoch(test) [5/5]    ";
      else
        prefix = mode == Mode::kVal ? "Iter(val) [10/10]    " : "Iter(test) [5/5]    ";
      EXPECT_EQ(line, prefix + metrics);
      EXPECT_EQ(ojson(tag).dump(), R"({"accuracy":0.9,"data_time":1.0})");

      const auto [full_tag, full_line] = lp.get_log_after_epoch(hub, ctx, true);
      EXPECT_EQ(full_line, line);
      EXPECT_EQ(full_tag.dump(),
                R"({"accuracy":0.9,"recall":{"cat":1,"dog":0},"cm":[1,2,3],"data_time":1.0})");
    }
  }
}

TEST(LogProcessorTest, AfterEpochTimeWindowIncludesPreviousRunsLastValue) {
  MessageHub hub("quirk");
  hub.update_scalar("val/acc", 0.5);
  for (int i = 0; i < 20; ++i) hub.update_scalar("val/time", 9.0);  // an earlier val run
  for (int i = 0; i < 10; ++i) hub.update_scalar("val/time", 1.0);
  LogContext ctx = runner_ctx(Mode::kVal);
  ctx.batch_idx = 10;
  const auto [tag, line] = make(true, true).get_log_after_epoch(hub, ctx);
  // 'epoch' resolves to batch_idx+1 = 11 values: ten 1.0 and the previous run's 9.0.
  EXPECT_DOUBLE_EQ(tag["val/time"].get<double>(), 19.0 / 11.0);
  EXPECT_EQ(line, "Epoch(val) [1][10/10]    val/acc: 0.5000  val/time: 1.7273");
  std::vector<std::string> keys;
  for (auto it = tag.begin(); it != tag.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"val/acc", "val/time"}));

  LogContext train_ctx = runner_ctx(Mode::kTrain);
  EXPECT_THROW(make(true).get_log_after_epoch(hub, train_ctx), Error);
}

// Check 54.
TEST(LogProcessorTest, CollectScalars) {
  std::vector<double> time, loss, lr, metric;
  for (int i = 0; i < 100; ++i) {
    time.push_back(((i * 37) % 101) / 7.0);
    loss.push_back(((i * 53) % 97) / 3.0);
    lr.push_back(i * 0.001);
    metric.push_back(((i * 11) % 89) / 5.0);
  }
  MessageHub hub("collect");
  for (int i = 0; i < 100; ++i) {
    hub.update_scalar("train/time", time[i]);
    hub.update_scalar("lr", lr[i]);
    hub.update_scalar("train/loss_cls", loss[i]);
    hub.update_scalar("val/metric", metric[i]);
  }
  const LogProcessor lp =
      make(true, false,
           json::parse(R"([{"data_src":"time","method_name":"max","log_name":"time_max"}])"));
  const ojson tag = lp.collect_scalars(hub, runner_ctx(Mode::kTrain), lp.custom_entries());
  std::vector<std::string> keys;
  for (auto it = tag.begin(); it != tag.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"time", "loss_cls", "time_max"}));
  double time_mean = 0, loss_mean = 0;
  for (int i = 90; i < 100; ++i) {
    time_mean += time[i];
    loss_mean += loss[i];
  }
  EXPECT_DOUBLE_EQ(tag["time"].get<double>(), time_mean / 10);
  EXPECT_DOUBLE_EQ(tag["loss_cls"].get<double>(), loss_mean / 10);
  EXPECT_DOUBLE_EQ(tag["time_max"].get<double>(), *std::max_element(time.begin(), time.end()));

  const ojson val = lp.collect_scalars(hub, runner_ctx(Mode::kVal), lp.custom_entries());
  EXPECT_EQ(val.size(), 1u);
  EXPECT_DOUBLE_EQ(val["metric"].get<double>(), metric.back());

  const ojson reserved =
      lp.collect_scalars(hub, runner_ctx(Mode::kTrain), lp.custom_entries(), true);
  keys.clear();
  for (auto it = reserved.begin(); it != reserved.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"train/time", "train/loss_cls", "train/time_max"}));
}

TEST(LogProcessorTest, CollectNonScalars) {
  MessageHub hub("non_scalars");
  hub.update_info("test/metric1", json{1.5, 2.5});
  hub.update_info("test/metric2", 10);
  hub.update_info("val/other", 1);
  const ojson tag = make(true).collect_non_scalars(hub, runner_ctx(Mode::kTest));
  EXPECT_EQ(tag.dump(), R"({"metric1":[1.5,2.5],"metric2":10})");
}

// Check 55.
TEST(LogProcessorTest, GetIterAndEpoch) {
  EXPECT_EQ(make(true).get_iter(runner_ctx(Mode::kTrain)), 2);
  EXPECT_EQ(make(false).get_iter(runner_ctx(Mode::kTrain)), 11);
  EXPECT_EQ(LogProcessor::get_epoch(runner_ctx(Mode::kTrain)), 2);
  EXPECT_EQ(LogProcessor::get_epoch(runner_ctx(Mode::kVal)), 1);
  EXPECT_THROW(LogProcessor::get_epoch(runner_ctx(Mode::kTest)), Error);
}

TEST(LogProcessorTest, CustomWindowsResolvePerCall) {
  MessageHub hub("custom");
  for (int i = 1; i <= 20; ++i) hub.update_scalar("train/loss", i);
  const LogProcessor lp = make(true, false, json::parse(R"([
      {"data_src":"loss","log_name":"loss_epoch","method_name":"mean","window_size":"epoch"},
      {"data_src":"loss","log_name":"loss_global","method_name":"mean","window_size":"global"},
      {"data_src":"loss","method_name":"min","window_size":3}])"));
  LogContext ctx = runner_ctx(Mode::kTrain);
  ctx.batch_idx = 3;  // epoch window 4
  ctx.iter = 4;       // global window 5
  const auto [tag, line] = lp.get_log_after_iter(hub, ctx);
  EXPECT_DOUBLE_EQ(tag["loss_epoch"].get<double>(), (17 + 18 + 19 + 20) / 4.0);
  EXPECT_DOUBLE_EQ(tag["loss_global"].get<double>(), (16 + 17 + 18 + 19 + 20) / 5.0);
  EXPECT_DOUBLE_EQ(tag["loss"].get<double>(), 18.0);  // overwritten in place by min over 3
  EXPECT_EQ(line,
            "Epoch(train)  [2][ 4/20]    loss: 18.0000  loss_epoch: 18.5000  loss_global: 18.0000");
}

// A hook chooses scalar and info names (and string values): a newline in one must not start a
// forged log line, nor an escape byte reach the terminal. Control bytes print escaped.
TEST(LogProcessorTest, ControlCharactersCannotForgeLogLines) {
  MessageHub hub("hostile");
  const std::string forged = "\n2026/01/01 00:00:00 - mmengine - INFO - Exp name: forged";
  hub.update_scalar("train/lr", 0.1);
  hub.update_scalar("train/x\rlr", 0.5);
  hub.update_scalar("train/loss" + forged, 1.0);
  hub.update_scalar("train/acc\x1b[2J\t\x01\x7f", 2.0);
  const auto [tag, line] = make(false).get_log_after_iter(hub, runner_ctx(Mode::kTrain));
  EXPECT_EQ(line,
            "Iter(train) [11/50]  lr: 1.0000e-01 x\\rlr: 5.0000e-01  "
            "loss\\n2026/01/01 00:00:00 - mmengine - INFO - Exp name: forged: 1.0000  "
            "acc\\x1b[2J\\t\\x01\\x7f: 2.0000");
  EXPECT_TRUE(tag.contains("loss" + forged));  // the scalars themselves keep their names

  MessageHub val_hub("hostile_val");
  val_hub.update_scalar("val/acc\r\n", 0.5);
  val_hub.update_info("val/note", "a\nb");
  LogContext ctx = runner_ctx(Mode::kVal);
  ctx.batch_idx = ctx.dataloader_len;
  const auto [vtag, vline] = make(true).get_log_after_epoch(val_hub, ctx);
  EXPECT_EQ(vline, "Epoch(val) [1][10/10]    acc\\r\\n: 0.5000  note: a\\nb");
}

}  // namespace
}  // namespace mmhook
