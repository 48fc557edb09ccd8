// Checkpoint round trip and exact resume (docs/design.md §A3, §B8, §B9 checks 22–28).

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <torch/types.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/resume.h"
#include "mmhook/data/dataset.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// 24 two-class samples: inputs [sin(i), cos(i)], target i % 2.
class TwoClassDataset : public Dataset {
 public:
  int64_t size() const override { return 24; }
  TensorDict get(int64_t index, uint64_t) const override {
    TensorDict d;
    const double x = static_cast<double>(index);
    d.set("inputs",
          torch::tensor({static_cast<float>(std::sin(x)), static_cast<float>(std::cos(x))}));
    d.set("targets", torch::tensor(index % 2, torch::kLong));
    return d;
  }
};

void register_two_class() {
  static bool done = [] {
    dataset_registry().add("TwoClassDataset", [](const ConfigNode&) -> std::shared_ptr<Dataset> {
      return std::make_shared<TwoClassDataset>();
    });
    return true;
  }();
  (void)done;
}

// A model whose training consumes the global RNG (dropout) and a shuffled sampler, so an
// inexact resume (RNG, sampler epoch, optimizer state) shows up in the parameters.
nlohmann::json exact_config(const std::string& work_dir, int64_t max_epochs) {
  register_two_class();
  nlohmann::json cfg = testing::epoch_config(work_dir);
  cfg["model"] = {{"type", "MLPClassifier"},
                  {"in_channels", 2},
                  {"hidden_dims", {8}},
                  {"num_classes", 2},
                  {"dropout", 0.5}};
  nlohmann::json ds = {{"type", "TwoClassDataset"}};
  cfg["train_dataloader"]["dataset"] = ds;
  cfg["train_dataloader"]["sampler"] = {{"type", "DefaultSampler"}, {"shuffle", true}};
  cfg.erase("val_dataloader");
  cfg.erase("val_cfg");
  cfg.erase("val_evaluator");
  cfg["train_cfg"]["max_epochs"] = max_epochs;
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}};
  return cfg;
}

// Every parameter of a resumed run equals the straight run's, bit for bit.
void expect_bit_equal(const std::vector<float>& straight, const std::vector<float>& resumed) {
  ASSERT_EQ(straight.size(), resumed.size());
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_EQ(straight[i], resumed[i]) << "param " << i;
}

TEST(CheckpointTest, EpochCheckpointContents) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 3;
  Runner runner(cfg);
  runner.train();
  EXPECT_TRUE(fs::exists(dir / "epoch_3.pth"));
  EXPECT_FALSE(fs::exists(dir / "epoch_4.pth"));
  EXPECT_EQ(read_all(dir / "last_checkpoint"), dir / "epoch_3.pth");
  Checkpoint ckpt = load_checkpoint_file(dir / "epoch_3.pth");
  auto meta = ckpt.meta();
  EXPECT_EQ(meta.at("epoch").toInt(), 3);
  EXPECT_EQ(meta.at("iter").toInt(), 12);
  EXPECT_EQ(meta.at("seed").toInt(), 0);
  EXPECT_EQ(meta.at("experiment_name").toStringRef(), runner.experiment_name());
  EXPECT_TRUE(ckpt.get("optimizer").isGenericDict());
  for (const char* key : {"state_dict", "message_hub", "rng_state", "loop_state", "hook_states"})
    EXPECT_TRUE(ckpt.contains(key)) << key;
  auto sd = ckpt.get("state_dict").toGenericDict();
  EXPECT_TRUE(sd.contains("linear1.weight"));
  EXPECT_TRUE(sd.contains("linear2.bias"));
  // The message hub keeps the last 0-based indices (docs/design.md §B4.1).
  MessageHub hub("probe");
  hub.load_state_dict(ckpt.get("message_hub"));
  EXPECT_EQ(hub.get_info("epoch").get<int64_t>(), 2);
  EXPECT_EQ(hub.get_info("iter").get<int64_t>(), 11);
}

TEST(CheckpointTest, LoadCheckpointKeepsCounters) {
  TempDir dir;
  {
    Runner runner(testing::epoch_config(dir.path()));
    runner.train();
  }
  auto cfg = testing::epoch_config(dir / "fresh");
  cfg["load_from"] = dir / "epoch_2.pth";
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.val();
  EXPECT_EQ(runner.epoch(), 0);
  EXPECT_EQ(runner.iter(), 0);
  EXPECT_EQ(rec->of("after_load_checkpoint").size(), 1u);
  EXPECT_FALSE(runner.has_optim_wrapper());
}

TEST(CheckpointTest, HooksCanAddAndReadEntries) {
  struct StateHook : HookImpl<StateHook> {
    int64_t seen = -1;
    void before_save_checkpoint(Runner& r, Checkpoint& c) override {
      c.put_hook_state(name(), "count", r.iter());
    }
    void after_load_checkpoint(Runner&, Checkpoint& c) override {
      auto v = c.get_hook_state(name(), "count");
      if (v) seen = v->toInt();
    }
  };
  TempDir dir;
  {
    Runner runner(testing::epoch_config(dir.path()));
    runner.register_hook(std::make_shared<StateHook>());
    runner.train();
  }
  auto cfg = testing::epoch_config(dir.path());
  cfg["resume"] = true;
  cfg["train_cfg"]["max_epochs"] = 3;
  Runner runner(cfg);
  auto hook = std::make_shared<StateHook>();
  runner.register_hook(hook);
  runner.train();
  EXPECT_EQ(hook->seen, 8);
}

TEST(ResumeTest, EpochModeIsBitExact) {
  TempDir dir;
  std::vector<float> straight, resumed;
  {
    Runner runner(exact_config(dir / "straight", 3));
    runner.train();
    straight = testing::flat_params(runner);
  }
  {
    Runner runner(exact_config(dir / "split", 2));
    runner.train();
  }
  {
    auto cfg = exact_config(dir / "split", 3);
    cfg["resume"] = true;
    Runner runner(cfg);
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    EXPECT_EQ(rec->of("before_train_iter").size(), 8u);  // 24 samples / 3 = 8 iters of epoch 3
    EXPECT_EQ(rec->of("before_train_epoch").front().epoch, 2);
    resumed = testing::flat_params(runner);
  }
  expect_bit_equal(straight, resumed);
}

TEST(ResumeTest, IterModeMidEpochIsBitExact) {
  // 24 samples, batch 3: 8 iterations per pass; resume at iteration 11 (mid second pass).
  auto iter_cfg = [](const std::string& work_dir, int64_t max_iters) {
    nlohmann::json cfg = exact_config(work_dir, 1);
    cfg["train_cfg"] = {{"by_epoch", false}, {"max_iters", max_iters}, {"val_interval", 1000}};
    cfg["log_processor"] = {{"by_epoch", false}};
    cfg["default_hooks"] = {
        {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 11}, {"by_epoch", false}}}};
    return cfg;
  };
  TempDir dir;
  std::vector<float> straight, resumed;
  {
    Runner runner(iter_cfg(dir / "straight", 20));
    runner.train();
    straight = testing::flat_params(runner);
  }
  {
    Runner runner(iter_cfg(dir / "split", 11));
    runner.train();
  }
  {
    auto cfg = iter_cfg(dir / "split", 20);
    cfg["load_from"] = dir / "split/iter_11.pth";
    cfg["resume"] = true;
    Runner runner(cfg);
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    ASSERT_FALSE(rec->of("before_train_iter").empty());
    EXPECT_EQ(rec->of("before_train_iter").front().iter, 11);
    EXPECT_EQ(rec->of("before_train_iter").size(), 9u);
    resumed = testing::flat_params(runner);
  }
  expect_bit_equal(straight, resumed);
}

TEST(ResumeTest, ResumeRestoresCountersAndOptimizer) {
  TempDir dir;
  {
    auto cfg = testing::epoch_config(dir.path());
    cfg["train_cfg"]["max_epochs"] = 3;
    Runner runner(cfg);
    runner.train();
  }
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 3;
  cfg["load_from"] = dir / "epoch_1.pth";
  cfg["resume"] = true;
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  // Resumed from epoch 1 (iter 4): epochs 2 and 3 run.
  EXPECT_EQ(rec->of("before_train_epoch").front().epoch, 1);
  EXPECT_EQ(rec->of("before_train_iter").front().iter, 4);
  EXPECT_EQ(runner.iter(), 12);
}

TEST(ResumeTest, MissingCheckpointNamesTheFile) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["load_from"] = dir / "nope.pth";
  cfg["resume"] = true;
  Runner runner(cfg);
  try {
    runner.train();
    FAIL() << "resuming from a missing file must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.pth"), std::string::npos) << e.what();
  }
}

// -- explicit resume ("resume": true without load_from, `mmhook train --resume`) ---------------

std::vector<char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// epoch_1..3.pth in `dir`, then epoch_1.pth rewritten so that it has the newest modification
// time (as a copy or a restore from backup leaves them): only meta.iter tells which is newest.
void train_three_epochs_shuffled_mtimes(const TempDir& dir) {
  {
    auto cfg = testing::epoch_config(dir.path());
    cfg["train_cfg"]["max_epochs"] = 3;
    Runner runner(cfg);
    runner.train();
  }
  fs::last_write_time(dir / "epoch_3.pth",
                      fs::last_write_time(dir / "epoch_1.pth") - std::chrono::hours(2));
  fs::last_write_time(dir / "epoch_2.pth",
                      fs::last_write_time(dir / "epoch_1.pth") - std::chrono::hours(1));
}

// Resumes `dir` with max_epochs 4; returns the iteration training restarted at.
int64_t resume_four_epochs(const TempDir& dir) {
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 4;
  cfg["resume"] = true;
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  EXPECT_EQ(runner.iter(), 16);
  return rec->of("before_train").empty() ? -1 : rec->of("before_train").front().iter;
}

TEST(ExplicitResumeTest, WithoutLastCheckpointResumesTheCheckpointWithTheMostIterations) {
  TempDir dir;
  train_three_epochs_shuffled_mtimes(dir);
  fs::remove(dir / "last_checkpoint");
  std::vector<std::vector<char>> before;
  for (const char* name : {"epoch_1.pth", "epoch_2.pth", "epoch_3.pth"})
    before.push_back(bytes_of(dir / name));
  // Not a fresh start that overwrites epoch_1..3, and not the newest file by time (epoch_1).
  EXPECT_EQ(resume_four_epochs(dir), 12);
  int i = 0;
  for (const char* name : {"epoch_1.pth", "epoch_2.pth", "epoch_3.pth"})
    EXPECT_TRUE(bytes_of(dir / name) == before[static_cast<size_t>(i++)]) << name << " rewritten";
  EXPECT_TRUE(fs::exists(dir / "epoch_4.pth"));
}

TEST(ExplicitResumeTest, JunkOrDanglingLastCheckpointFallsBackToTheMostIterations) {
  for (const std::string& junk :
       {std::string("\x01\x02garbage\0\xff", 11), std::string(""), std::string("a\nb\n"),
        std::string("/nonexistent/epoch_9.pth"), std::string(10000, 'x')}) {
    SCOPED_TRACE("last_checkpoint: " + junk.substr(0, 40));
    TempDir dir;
    train_three_epochs_shuffled_mtimes(dir);
    std::ofstream(dir / "last_checkpoint", std::ios::binary | std::ios::trunc) << junk;
    EXPECT_EQ(resume_four_epochs(dir), 12);
  }
}

TEST(ExplicitResumeTest, CheckpointWrittenAfterLastCheckpointWins) {
  // A stop between writing epoch_3.pth and updating last_checkpoint: continuing from epoch_2
  // would write epoch_3.pth over a checkpoint this run did not write.
  TempDir dir;
  {
    auto cfg = testing::epoch_config(dir.path());
    cfg["train_cfg"]["max_epochs"] = 3;
    Runner runner(cfg);
    runner.train();
  }
  std::ofstream(dir / "last_checkpoint", std::ios::trunc) << dir / "epoch_2.pth";
  const std::vector<char> third = bytes_of(dir / "epoch_3.pth");
  EXPECT_EQ(resume_four_epochs(dir), 12);
  EXPECT_TRUE(bytes_of(dir / "epoch_3.pth") == third);
  // A loadable last_checkpoint wins over older files: the selection reads no other file.
  std::vector<std::string> warnings;
  EXPECT_EQ(select_resume_checkpoint(dir / "epoch_4.pth", dir.path(), warnings),
            dir / "epoch_4.pth");
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(ExplicitResumeTest, WorkDirWithoutCheckpointsIsAnErrorNotAFreshStart) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["resume"] = true;
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  try {
    runner.train();
    FAIL() << "an explicit resume of an empty work_dir started over";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no checkpoint in '" + dir.path() + "'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(rec->of("before_train_iter").empty());
  EXPECT_FALSE(fs::exists(dir / "epoch_1.pth"));
}

TEST(AutoResumeTest, EmptyWorkDirStartsFreshAndASecondAttemptContinuesBitExactly) {
  // What a requeued job runs: the same config, resume "auto", every attempt.
  TempDir dir;
  std::vector<float> straight, resumed;
  {
    Runner runner(exact_config(dir / "straight", 3));
    runner.train();
    straight = testing::flat_params(runner);
  }
  auto attempt = [&](int64_t max_epochs) {
    auto cfg = exact_config(dir / "auto", max_epochs);
    cfg["resume"] = "auto";
    return cfg;
  };
  {
    // First attempt: nothing to resume, so it starts at epoch 0 (an explicit resume would fail).
    Runner runner(attempt(2));
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    ASSERT_FALSE(rec->of("before_train_epoch").empty());
    EXPECT_EQ(rec->of("before_train_epoch").front().epoch, 0);
    EXPECT_EQ(runner.epoch(), 2);
  }
  {
    // Second attempt: continues from epoch 2's checkpoint and ends like the straight run.
    Runner runner(attempt(3));
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    ASSERT_EQ(rec->of("before_train_epoch").size(), 1u);
    EXPECT_EQ(rec->of("before_train_epoch").front().epoch, 2);
    resumed = testing::flat_params(runner);
  }
  expect_bit_equal(straight, resumed);
}

TEST(AutoResumeTest, OtherStringsAreConfigErrorsNamingTheKey) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["resume"] = "yes";
  try {
    Runner runner(cfg);
    FAIL() << "resume: \"yes\" was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_NE(std::string(e.what()).find("resume"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"auto\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
