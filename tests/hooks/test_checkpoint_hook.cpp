// CheckpointHook (docs/design.md §B4.6, §B9 checks 32–41); its policy functions are tested in
// test_checkpoint_policy.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/hooks/checkpoint_hook.h"
#include "mmhook/logging/message_hub.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

TEST(CheckpointPolicyTest, OptionValidation) {
  CheckpointHookOptions o;
  o.save_best = {"auto", "acc"};
  EXPECT_THROW(CheckpointHook{o}, Error);
  o.save_best = {"acc"};
  o.rule = {"greater", "less"};
  EXPECT_THROW(CheckpointHook{o}, Error);
  o.rule = {"bigger"};
  EXPECT_THROW(CheckpointHook{o}, Error);
  o.rule.clear();
  o.save_begin = -1;
  EXPECT_THROW(CheckpointHook{o}, Error);
  o.save_begin = 0;
  o.filename_tmpl = "../escape_{}.pth";
  EXPECT_THROW(CheckpointHook{o}, Error);
  CheckpointHookOptions two;
  two.save_best = {"FID", "IS"};
  two.rule = {"less", "greater"};
  EXPECT_NO_THROW(CheckpointHook{two});
}

nlohmann::json eleven(const std::string& dir, bool by_epoch, nlohmann::json hook) {
  nlohmann::json cfg = by_epoch ? testing::epoch_config(dir) : testing::iter_config(dir);
  if (by_epoch) {
    cfg["train_cfg"]["max_epochs"] = 11;
  } else {
    cfg["train_cfg"]["max_iters"] = 11;
    cfg["train_cfg"]["val_interval"] = 1;
  }
  hook["type"] = "CheckpointHook";
  hook["by_epoch"] = by_epoch;
  cfg["default_hooks"] = {{"checkpoint", hook}};
  return cfg;
}

class CheckpointHookModes : public ::testing::TestWithParam<bool> {};

TEST_P(CheckpointHookModes, IntervalTwoSavesEvenAndLast) {
  // Check 32.
  const bool by_epoch = GetParam();
  const std::string prefix = by_epoch ? "epoch_" : "iter_";
  TempDir dir;
  Runner runner(eleven(dir.path(), by_epoch, {{"interval", 2}}));
  runner.train();
  for (int i = 1; i <= 10; ++i)
    EXPECT_EQ(fs::exists(dir / (prefix + std::to_string(i) + ".pth")), i % 2 == 0) << i;
  EXPECT_TRUE(fs::exists(dir / (prefix + "11.pth")));
}

TEST_P(CheckpointHookModes, MaxKeepCkpts) {
  // Check 35.
  const bool by_epoch = GetParam();
  const std::string prefix = by_epoch ? "epoch_" : "iter_";
  TempDir dir;
  Runner runner(eleven(dir.path(), by_epoch, {{"interval", 1}, {"max_keep_ckpts", 3}}));
  runner.train();
  for (int i = 1; i <= 11; ++i)
    EXPECT_EQ(fs::exists(dir / (prefix + std::to_string(i) + ".pth")), i >= 9) << i;
  Checkpoint ckpt = load_checkpoint_file(dir / (prefix + "11.pth"));
  MessageHub hub("probe");
  hub.load_state_dict(ckpt.get("message_hub"));
  EXPECT_EQ(hub.get_info("keep_ckpt_ids"), nlohmann::json({9, 10, 11}));
}

TEST_P(CheckpointHookModes, FilenameTmplAndSaveBegin) {
  // Checks 36 and 39.
  const bool by_epoch = GetParam();
  const std::string prefix = by_epoch ? "epoch_" : "iter_";
  TempDir dir;
  {
    Runner runner(
        eleven(dir / "tmpl", by_epoch, {{"interval", 1}, {"filename_tmpl", "test_{}.pth"}}));
    runner.train();
    EXPECT_TRUE(fs::exists(dir / "tmpl/test_11.pth"));
  }
  {
    Runner runner(eleven(dir / "begin", by_epoch, {{"interval", 2}, {"save_begin", 5}}));
    runner.train();
    for (int i = 1; i <= 10; ++i)
      EXPECT_EQ(fs::exists(dir / ("begin/" + prefix + std::to_string(i) + ".pth")),
                i == 5 || i == 7 || i == 9)
          << i;
  }
}

TEST_P(CheckpointHookModes, SaveBestTriangleMetric) {
  // Check 37: a metric peaking at the 5th validation.
  const bool by_epoch = GetParam();
  TempDir dir;
  auto cfg = eleven(dir.path(), by_epoch, {{"interval", 1}, {"save_best", "acc"}});
  cfg["val_evaluator"] = {{"type", "ToyMetric"}, {"values", {1, 2, 3, 4, 5, 4, 3, 2, 1, 0, -1}}};
  Runner runner(cfg);
  runner.train();
  const std::string best = by_epoch ? "best_acc_epoch_5.pth" : "best_acc_iter_5.pth";
  EXPECT_TRUE(fs::exists(dir / best));
  int best_files = 0;
  for (const auto& e : fs::directory_iterator(dir.path()))
    best_files += e.path().filename().string().rfind("best_", 0) == 0;
  EXPECT_EQ(best_files, 1);
  Checkpoint ckpt = load_checkpoint_file(dir / best);
  EXPECT_EQ(ckpt.meta().at("epoch").toInt(), by_epoch ? 5 : 0);
  EXPECT_EQ(ckpt.meta().at("iter").toInt(), by_epoch ? 20 : 5);
  EXPECT_EQ(runner.message_hub().get_info("best_ckpt").get<std::string>(), dir / best);
  EXPECT_EQ(runner.message_hub().get_info("best_score").get<double>(), 5.0);
}

INSTANTIATE_TEST_SUITE_P(ByEpochAndByIter, CheckpointHookModes, ::testing::Bool());

TEST(CheckpointHookTest, OutDirAndSaveOptimizer) {
  // Checks 33 and 34.
  TempDir dir;
  auto cfg = eleven(dir / "work", true,
                    {{"interval", 11}, {"out_dir", dir / "out"}, {"save_optimizer", false}});
  Runner runner(cfg);
  runner.train();
  EXPECT_TRUE(fs::exists(dir / "out/work/epoch_11.pth"));
  Checkpoint ckpt = load_checkpoint_file(dir / "out/work/epoch_11.pth");
  EXPECT_FALSE(ckpt.contains("optimizer"));
  std::ifstream in(dir / "work/last_checkpoint");
  std::string last((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(last, dir / "out/work/epoch_11.pth");
}

}  // namespace
}  // namespace mmhook

// ------------------------------------------------------------------------------- async_save

namespace mmhook {
namespace {

// Runs the iteration-based toy config with a checkpoint every 3 iterations, keeping 2.
std::unique_ptr<Runner> train_saving(const std::string& work, bool async) {
  nlohmann::json cfg = testing::iter_config(work);
  cfg["default_hooks"]["checkpoint"] = {{"type", "CheckpointHook"},
                                        {"interval", 3},
                                        {"by_epoch", false},
                                        {"max_keep_ckpts", 2},
                                        {"async_save", async}};
  auto runner = std::make_unique<Runner>(cfg);
  runner->train();
  return runner;
}

std::vector<std::string> pth_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << "temporary file left: " << name;
    if (e.path().extension() == ".pth") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// async_save writes on a background thread what the synchronous save writes: the same files
// (retention included), the same content, and last_checkpoint naming the newest, all on disk
// when train() returns.
TEST(CheckpointAsyncSaveTest, WritesWhatTheSynchronousSaveWrites) {
  TempDir tmp;
  const std::string sync_dir = tmp / "sync";
  const std::string async_dir = tmp / "async";
  train_saving(sync_dir, false);
  auto runner = train_saving(async_dir, true);
  ASSERT_EQ(pth_files(async_dir), (std::vector<std::string>{"iter_12.pth", "iter_9.pth"}));
  EXPECT_EQ(pth_files(sync_dir), pth_files(async_dir));
  for (const std::string name : {"iter_9.pth", "iter_12.pth"}) {
    const Checkpoint a = load_checkpoint_file(sync_dir + "/" + name);
    const Checkpoint b = load_checkpoint_file(async_dir + "/" + name);
    EXPECT_EQ(a.meta().at("iter").toInt(), b.meta().at("iter").toInt());
    const auto sa = a.get("state_dict").toGenericDict();
    const auto sb = b.get("state_dict").toGenericDict();
    ASSERT_EQ(sa.size(), sb.size());
    for (const auto& e : sa) EXPECT_TRUE(e.value().toTensor().equal(sb.at(e.key()).toTensor()));
  }
  EXPECT_EQ(read_text_file(async_dir + "/last_checkpoint"), async_dir + "/iter_12.pth");
}

TEST(CheckpointAsyncSaveTest, BackgroundWriterReportsTheFirstErrorOnce) {
  BackgroundWriter writer;
  std::atomic<int> ran{0};
  writer.submit([&] { ++ran; });
  writer.submit([&] {
    ++ran;
    throw Error(Code::kIo, "cannot write 'x': No space left on device");
  });
  try {
    writer.wait();
    ADD_FAILURE() << "the failed job's error was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos);
  }
  EXPECT_NO_THROW(writer.wait());  // reported once
  EXPECT_NO_THROW(writer.check());
  EXPECT_EQ(ran.load(), 2);
  EXPECT_FALSE(writer.busy());
}

}  // namespace
}  // namespace mmhook
