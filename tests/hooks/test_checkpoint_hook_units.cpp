// CheckpointHook stage-level checks (docs/design.md §B4.6; §B9 checks 38 and 40–43) and its
// SHA-256. The end-to-end checks 32–37 and 39 live in test_checkpoint_hook.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "file_contents.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/loops.h"
#include "mmhook/hooks/checkpoint_hook.h"
#include "mmhook/logging/message_hub.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::file_contents;
using testing::TempDir;

std::vector<std::string> files_starting_with(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A runner over the toy config with its train loop built and the counters set.
struct Fixture {
  explicit Fixture(int64_t epoch, int64_t iter, bool by_epoch = true)
      : runner(by_epoch ? testing::epoch_config(dir.path()) : testing::iter_config(dir.path())) {
    runner.train_loop().set_counters(epoch, iter);
  }
  TempDir dir;
  Runner runner;
  MessageHub& hub() { return runner.message_hub(); }
};

CheckpointHook make_hook(std::vector<std::string> save_best, std::vector<std::string> rule = {},
                         bool by_epoch = true) {
  CheckpointHookOptions o;
  o.interval = 1;
  o.by_epoch = by_epoch;
  o.save_best = std::move(save_best);
  o.rule = std::move(rule);
  return CheckpointHook(o);
}

// ------------------------------------------------------------------------- save_best (40)

TEST(CheckpointHookUnitTest, SaveBestAutoUsesTheFirstMetric) {
  Fixture f(9, 36);
  CheckpointHook hook = make_hook({"auto"});
  hook.before_train(f.runner);
  hook.after_val_epoch(f.runner, Metrics{{"acc", 0.5}, {"map", 0.3}});
  EXPECT_EQ(f.hub().get_info("best_score").get<double>(), 0.5);
  const std::string best = f.dir / "best_acc_epoch_9.pth";
  EXPECT_EQ(f.hub().get_info("best_ckpt").get<std::string>(), best);
  EXPECT_TRUE(fs::exists(best));
  // "auto" re-reads the first key each time: a higher acc replaces the file.
  f.runner.train_loop().set_counters(10, 40);
  hook.after_val_epoch(f.runner, Metrics{{"acc", 0.7}, {"map", 0.1}});
  EXPECT_EQ(f.hub().get_info("best_score").get<double>(), 0.7);
  EXPECT_EQ(files_starting_with(f.dir.path(), "best"),
            std::vector<std::string>{"best_acc_epoch_10.pth"});
  // The best checkpoint's meta and its message hub carry the state at the time of saving.
  Checkpoint ckpt = load_checkpoint_file(f.dir / "best_acc_epoch_10.pth");
  EXPECT_EQ(ckpt.meta().at("epoch").toInt(), 10);
  EXPECT_EQ(ckpt.meta().at("iter").toInt(), 40);
  EXPECT_FALSE(ckpt.contains("optimizer"));
}

TEST(CheckpointHookUnitTest, SaveBestRules) {
  {
    Fixture f(9, 36);
    CheckpointHook hook = make_hook({"loss"});  // inferred: less
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"loss", 0.8}});
    hook.after_val_epoch(f.runner, Metrics{{"loss", 0.5}});
    hook.after_val_epoch(f.runner, Metrics{{"loss", 0.6}});
    EXPECT_EQ(f.hub().get_info("best_score").get<double>(), 0.5);
    EXPECT_EQ(f.hub().get_info("best_ckpt").get<std::string>(), f.dir / "best_loss_epoch_9.pth");
  }
  {
    Fixture f(9, 36);
    CheckpointHook hook = make_hook({"acc"}, {"less"});
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.5}});
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.3}});
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.4}});
    EXPECT_EQ(f.hub().get_info("best_score").get<double>(), 0.3);
  }
  {
    Fixture f(9, 36);
    CheckpointHook hook = make_hook({"loss"}, {"greater"});
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"loss", 0.5}});
    hook.after_val_epoch(f.runner, Metrics{{"loss", 1.0}});
    hook.after_val_epoch(f.runner, Metrics{{"loss", 0.9}});
    EXPECT_EQ(f.hub().get_info("best_score").get<double>(), 1.0);
  }
}

TEST(CheckpointHookUnitTest, SaveBestSeveralKeys) {
  for (bool by_epoch : {true, false}) {
    Fixture f(by_epoch ? 9 : 0, 9, by_epoch);
    CheckpointHook hook = make_hook({"acc", "mIoU"}, {}, by_epoch);
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.5}, {"mIoU", 0.6}});
    const std::string step = by_epoch ? "epoch_9.pth" : "iter_9.pth";
    EXPECT_EQ(f.hub().get_info("best_score_acc").get<double>(), 0.5);
    EXPECT_EQ(f.hub().get_info("best_score_mIoU").get<double>(), 0.6);
    EXPECT_EQ(f.hub().get_info("best_ckpt_acc").get<std::string>(), f.dir / ("best_acc_" + step));
    EXPECT_EQ(f.hub().get_info("best_ckpt_mIoU").get<std::string>(), f.dir / ("best_mIoU_" + step));
    EXPECT_FALSE(f.hub().has_info("best_score"));
    EXPECT_FALSE(f.hub().has_info("best_ckpt"));
    EXPECT_EQ(files_starting_with(f.dir.path(), "best"),
              (std::vector<std::string>{"best_acc_" + step, "best_mIoU_" + step}));
  }
}

TEST(CheckpointHookUnitTest, SaveBestIterMode) {
  Fixture f(0, 9, false);
  CheckpointHook hook = make_hook({"acc"}, {}, false);
  hook.before_train(f.runner);
  hook.after_val_epoch(f.runner, Metrics{{"acc", 0.5}});
  EXPECT_EQ(f.hub().get_info("best_ckpt").get<std::string>(), f.dir / "best_acc_iter_9.pth");
  EXPECT_EQ(files_starting_with(f.dir.path(), "best"),
            std::vector<std::string>{"best_acc_iter_9.pth"});
}

TEST(CheckpointHookUnitTest, EmptyMetricsWarnAndSaveNothing) {
  Fixture f(9, 36);
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  f.runner.logger().sinks().push_back(sink);
  CheckpointHook hook = make_hook({"acc"});
  hook.before_train(f.runner);
  hook.after_val_epoch(f.runner, Metrics{});
  bool warned = false;
  for (const auto& msg : sink->last_raw())
    warned = warned || (msg.level == spdlog::level::warn &&
                        std::string(msg.payload.data(), msg.payload.size()).find("empty") !=
                            std::string::npos);
  auto& sinks = f.runner.logger().sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  EXPECT_TRUE(warned);
  EXPECT_FALSE(f.hub().has_info("best_score"));
  EXPECT_TRUE(files_starting_with(f.dir.path(), "best").empty());
  EXPECT_TRUE(files_starting_with(f.dir.path(), "epoch").empty());
}

TEST(CheckpointHookUnitTest, ImprovementResavesTheLastCheckpoint) {
  // Once a regular checkpoint exists, a new best re-saves `<tmpl>(cur)` with the best info.
  Fixture f(4, 16);
  CheckpointHookOptions o;
  o.interval = 2;
  o.save_best = {"acc"};
  CheckpointHook hook(o);
  hook.before_train(f.runner);
  f.runner.train_loop().set_counters(3, 16);
  hook.after_train_epoch(f.runner);  // epoch 4 of interval 2: epoch_4.pth
  ASSERT_TRUE(fs::exists(f.dir / "epoch_4.pth"));
  f.runner.train_loop().set_counters(5, 20);
  hook.after_val_epoch(f.runner, Metrics{{"acc", 0.9}});
  ASSERT_TRUE(fs::exists(f.dir / "epoch_5.pth"));
  Checkpoint ckpt = load_checkpoint_file(f.dir / "epoch_5.pth");
  MessageHub probe("ckpt_unit_probe");
  probe.load_state_dict(ckpt.get("message_hub"));
  EXPECT_EQ(probe.get_info("best_ckpt").get<std::string>(), f.dir / "best_acc_epoch_5.pth");
  EXPECT_EQ(probe.get_info("last_ckpt").get<std::string>(), f.dir / "epoch_5.pth");
}

// -------------------------------------------------------------------- periodic saves (41)

TEST(CheckpointHookUnitTest, AfterTrainEpochIntervalTwo) {
  Fixture f(9, 36);
  CheckpointHookOptions o;
  o.interval = 2;
  CheckpointHook hook(o);
  hook.before_train(f.runner);
  hook.after_train_epoch(f.runner);
  const std::string last = f.dir / "epoch_10.pth";
  EXPECT_EQ(f.hub().get_info("last_ckpt").get<std::string>(), last);
  EXPECT_TRUE(fs::exists(last));
  EXPECT_EQ(file_contents(f.dir / "last_checkpoint"), last);
  Checkpoint ckpt = load_checkpoint_file(last);
  EXPECT_EQ(ckpt.meta().at("epoch").toInt(), 10);
  EXPECT_EQ(ckpt.meta().at("iter").toInt(), 36);
  // Epoch 11 is not a multiple of 2 (and not the last of 2 epochs): nothing new.
  f.runner.train_loop().set_counters(10, 40);
  hook.after_train_epoch(f.runner);
  EXPECT_FALSE(fs::exists(f.dir / "epoch_11.pth"));
}

TEST(CheckpointHookUnitTest, IterModeSavesOnlyInAfterTrainIter) {
  Fixture f(0, 9, false);
  CheckpointHookOptions o;
  o.interval = 2;
  o.by_epoch = false;
  CheckpointHook hook(o);
  hook.before_train(f.runner);
  hook.after_train_epoch(f.runner);
  EXPECT_TRUE(files_starting_with(f.dir.path(), "iter").empty());
  EXPECT_FALSE(f.hub().has_info("last_ckpt"));
  hook.after_train_iter(f.runner, 9, {}, {});
  const std::string last = f.dir / "iter_10.pth";
  EXPECT_TRUE(fs::exists(last));
  EXPECT_EQ(f.hub().get_info("last_ckpt").get<std::string>(), last);
  Checkpoint ckpt = load_checkpoint_file(last);
  EXPECT_EQ(ckpt.meta().at("epoch").toInt(), 0);
  EXPECT_EQ(ckpt.meta().at("iter").toInt(), 10);
}

TEST(CheckpointHookUnitTest, EpochModeIgnoresAfterTrainIter) {
  Fixture f(0, 9);
  CheckpointHookOptions o;
  o.interval = 2;
  CheckpointHook hook(o);
  hook.before_train(f.runner);
  hook.after_train_iter(f.runner, 1, {}, {});
  EXPECT_FALSE(f.hub().has_info("last_ckpt"));
  EXPECT_TRUE(files_starting_with(f.dir.path(), "epoch").empty());
}

// ----------------------------------------------------------------------- construction (42)

TEST(CheckpointHookUnitTest, ConstructionChecks) {
  auto expect_error = [](const CheckpointHookOptions& o, const std::string& text) {
    try {
      CheckpointHook hook(o);
      ADD_FAILURE() << "accepted; expected an error containing " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  CheckpointHookOptions o;
  o.save_best = {"auto", "acc"};
  expect_error(o, "Only support one");
  o.save_best = {"acc", "acc"};
  expect_error(o, "duplicate key 'acc'");
  o.save_best = {"acc"};
  o.rule = {"greater", "loss"};
  expect_error(o, "Number of \"rule\" must be");
  o.rule = {"bigger"};
  expect_error(o, "bigger");
  o.rule.clear();
  o.save_best = {"recall"};
  expect_error(o, "recall");
  o.save_best.clear();
  o.published_keys = {"meta", "meta"};
  expect_error(o, "published_keys");

  CheckpointHookOptions two;
  two.save_best = {"acc", "mIoU"};
  EXPECT_EQ(CheckpointHook(two).rules(), (std::vector<std::string>{"greater", "greater"}));
  two.save_best = {"FID", "IS"};
  two.rule = {"less", "greater"};
  EXPECT_EQ(CheckpointHook(two).rules(), (std::vector<std::string>{"less", "greater"}));
  two.rule = {"less"};  // one rule for every key
  EXPECT_EQ(CheckpointHook(two).rules(), (std::vector<std::string>{"less", "less"}));
}

void expect_config_error(const nlohmann::json& hook, const std::string& text) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  nlohmann::json h = hook;
  h["type"] = "CheckpointHook";
  cfg["default_hooks"] = {{"checkpoint", h}};
  try {
    Runner runner(cfg);
    ADD_FAILURE() << "accepted " << hook.dump();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos)
        << hook.dump() << " -> " << e.what();
  }
}

TEST(CheckpointHookUnitTest, ConfigChecks) {
  expect_config_error({{"save_best", {{"key", "acc"}}}}, "default_hooks.checkpoint.save_best");
  expect_config_error({{"rule", 1}}, "default_hooks.checkpoint.rule");
  expect_config_error({{"save_best", "acc"}, {"rule", {"greater", "loss"}}},
                      "Number of \"rule\" must be");
  expect_config_error({{"save_best", {"auto", "acc"}}}, "default_hooks.checkpoint");
  expect_config_error({{"published_keys", 3}}, "default_hooks.checkpoint.published_keys");
  expect_config_error({{"save_begin", -1}}, "save_begin");

  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"checkpoint",
                           {{"type", "CheckpointHook"},
                            {"greater_keys", "acc"},
                            {"less_keys", "err"},
                            {"save_best", {"acc", "err"}},
                            {"published_keys", "state_dict"}}}};
  Runner runner(cfg);
  auto* hook = dynamic_cast<CheckpointHook*>(runner.find_hook("CheckpointHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->options().greater_keys, std::vector<std::string>{"acc"});
  EXPECT_EQ(hook->options().less_keys, std::vector<std::string>{"err"});
  EXPECT_EQ(hook->options().published_keys, std::vector<std::string>{"state_dict"});
  EXPECT_EQ(hook->rules(), (std::vector<std::string>{"greater", "less"}));
}

// ------------------------------------------------------------------------ before_train (43)

TEST(CheckpointHookUnitTest, BeforeTrainPicksUpBestCheckpointsFromTheHub) {
  // Several keys: best_ckpt_<k> restored from the hub is the file replaced on improvement.
  {
    Fixture f(9, 36);
    const std::string old_acc = f.dir / "best_acc_epoch_3.pth";
    std::ofstream(old_acc) << "old";
    f.hub().update_info("best_ckpt_acc", old_acc);
    f.hub().update_info("best_score_acc", 0.4);
    CheckpointHook hook = make_hook({"acc", "mIoU"});
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.3}, {"mIoU", 0.1}});
    EXPECT_TRUE(fs::exists(old_acc));  // 0.3 does not beat the restored 0.4
    EXPECT_EQ(f.hub().get_info("best_ckpt_mIoU").get<std::string>(),
              f.dir / "best_mIoU_epoch_9.pth");
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.5}, {"mIoU", 0.1}});
    EXPECT_FALSE(fs::exists(old_acc));
    EXPECT_EQ(f.hub().get_info("best_ckpt_acc").get<std::string>(), f.dir / "best_acc_epoch_9.pth");
  }
  // One key: best_ckpt.
  {
    Fixture f(9, 36);
    const std::string old = f.dir / "best_acc_epoch_2.pth";
    std::ofstream(old) << "old";
    f.hub().update_info("best_ckpt", old);
    f.hub().update_info("best_score", 0.2);
    CheckpointHook hook = make_hook({"acc"});
    hook.before_train(f.runner);
    hook.after_val_epoch(f.runner, Metrics{{"acc", 0.6}});
    EXPECT_FALSE(fs::exists(old));
    EXPECT_EQ(files_starting_with(f.dir.path(), "best"),
              std::vector<std::string>{"best_acc_epoch_9.pth"});
  }
}

TEST(CheckpointHookUnitTest, BeforeTrainResolvesOutDir) {
  Fixture f(0, 0);
  CheckpointHook plain;
  plain.before_train(f.runner);
  EXPECT_EQ(plain.out_dir(), f.runner.work_dir());
  CheckpointHookOptions o;
  o.out_dir = f.dir / "elsewhere";
  CheckpointHook moved(o);
  moved.before_train(f.runner);
  EXPECT_EQ(moved.out_dir(),
            (fs::path(f.dir / "elsewhere") / fs::path(f.runner.work_dir()).filename()).string());
}

// ---------------------------------------------------------------------- published_keys (38)

TEST(CheckpointHookUnitTest, PublishedKeysEndToEnd) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 3;
  cfg["val_evaluator"] = {{"type", "ToyMetric"}, {"values", {1, 3, 2}}};
  cfg["default_hooks"] = {{"checkpoint",
                           {{"type", "CheckpointHook"},
                            {"interval", 1},
                            {"save_best", "acc"},
                            {"published_keys", {"meta", "state_dict"}}}}};
  Runner runner(cfg);
  runner.train();
  const std::regex published(R"(-[0-9a-z]{8}\.pth$)");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    if (std::regex_search(name, published)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  // The last checkpoint and the best one (epoch 2), nothing else.
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].rfind("best_acc_epoch_2-", 0), 0u) << names[0];
  EXPECT_EQ(names[1].rfind("epoch_3-", 0), 0u) << names[1];
  for (const auto& name : names) {
    const std::string bytes = file_contents(dir / name);
    const std::string sha = sha256_hex(bytes.data(), bytes.size());
    EXPECT_EQ(name.substr(name.size() - 12, 8), sha.substr(0, 8)) << name;
    Checkpoint ckpt = load_checkpoint_file(dir / name);
    EXPECT_EQ(ckpt.keys(), (std::vector<std::string>{"meta", "state_dict"})) << name;
  }
  // The sources are untouched, and the weights match the source's.
  Checkpoint source = load_checkpoint_file(dir / "epoch_3.pth");
  EXPECT_TRUE(source.contains("optimizer"));
  Checkpoint pub = load_checkpoint_file(dir / names[1]);
  auto a = source.get("state_dict").toGenericDict();
  auto b = pub.get("state_dict").toGenericDict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) EXPECT_TRUE(kv.value().toTensor().equal(b.at(kv.key()).toTensor()));
}

TEST(CheckpointHookUnitTest, NoPublishedKeysPublishesNothing) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.train();
  const std::regex published(R"(-[0-9a-z]{8}\.pth$)");
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_FALSE(std::regex_search(e.path().filename().string(), published));
}

TEST(CheckpointHookUnitTest, PublishedFilesStayInOutDir) {
  // A last_ckpt path from elsewhere (e.g. a resumed run moved on disk) is published into out_dir.
  Fixture f(1, 8);
  TempDir other;
  CheckpointHookOptions o;
  o.published_keys = {"state_dict"};
  CheckpointHook hook(o);
  hook.before_train(f.runner);
  f.runner.save_checkpoint(other.path(), "epoch_7.pth");
  f.hub().update_info("last_ckpt", other / "epoch_7.pth");
  hook.after_train(f.runner);
  const auto in_out = files_starting_with(f.dir.path(), "epoch_7-");
  ASSERT_EQ(in_out.size(), 1u);
  EXPECT_TRUE(files_starting_with(other.path(), "epoch_7-").empty());
}

}  // namespace
}  // namespace mmhook
