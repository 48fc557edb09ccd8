// `mmhook train --resume` end to end: a run interrupted by SIGINT mid-epoch and resumed ends
// with the same checkpoint as an uninterrupted run; --resume of a work_dir without a checkpoint
// is an error; a second run on a work_dir in use fails at once naming the first one's pid.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "apps/cli_process.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::read_all;
using testing::spawn;
using testing::TempDir;
using testing::wait_exit;

// Runs `mmhook args...` to completion; exit status and output.
std::pair<int, std::string> run(const std::vector<std::string>& args, const TempDir& dir) {
  const std::string log = dir / "run.log";
  const pid_t pid = spawn(args, log);
  const int status = pid > 0 ? wait_exit(pid, 120) : -1;
  return {status, read_all(log)};
}

// 2 epochs of 1000 shuffled batches of a toy model, logging every iteration (training has
// started once scalars appear), a checkpoint per epoch.
std::string write_config(const TempDir& dir, int64_t max_epochs) {
  const nlohmann::json cfg = testing::long_toy_config(3000, max_epochs);
  std::string path = dir / ("toy_" + std::to_string(max_epochs) + ".json");
  std::ofstream(path) << cfg.dump(2);
  return path;
}

TEST(CliResumeTest, SigintMidEpochThenResumeEndsLikeAnUninterruptedRun) {
  TempDir dir;
  const std::string cfg = write_config(dir, 2);
  const auto [ref_status, ref_out] = run({"train", cfg, "--work-dir", dir / "straight"}, dir);
  ASSERT_EQ(ref_status, 0) << ref_out;

  const std::string work = dir / "split", log = dir / "split.log";
  const pid_t pid = testing::spawn_training(cfg, work, log);
  ASSERT_GT(pid, 0) << read_all(log);
  ::kill(pid, SIGINT);
  ASSERT_EQ(wait_exit(pid, 60), 128 + SIGINT) << read_all(log);
  const int64_t stopped_at =
      load_checkpoint_file(read_all(work + "/last_checkpoint")).meta().at("iter").toInt();
  ASSERT_LT(stopped_at, 2000);
  if (stopped_at % 1000 == 0) GTEST_SKIP() << "the signal landed on an epoch boundary";

  const auto [status, out] = run({"train", cfg, "--work-dir", work, "--resume"}, dir);
  ASSERT_EQ(status, 0) << out;
  const Checkpoint expected = load_checkpoint_file(dir / "straight/epoch_2.pth");
  const Checkpoint actual = load_checkpoint_file(work + "/epoch_2.pth");
  // Not 2000 + stopped_at: the interrupted epoch was continued, not run again.
  EXPECT_EQ(actual.meta().at("iter").toInt(), 2000);
  for (const char* part : {"state_dict", "optimizer"}) {
    const auto e = expected.get(part).toGenericDict();
    const auto a = actual.get(part).toGenericDict();
    if (std::string(part) == "state_dict") {
      ASSERT_EQ(e.size(), a.size());
      for (const auto& entry : e)
        EXPECT_TRUE(torch::equal(entry.value().toTensor(), a.at(entry.key()).toTensor()))
            << entry.key().toStringRef() << " differs from the uninterrupted run";
    } else {
      // Momentum buffers: state -> {param index -> {momentum_buffer}}.
      const auto es = e.at("state").toGenericDict();
      const auto as = a.at("state").toGenericDict();
      ASSERT_EQ(es.size(), as.size());
      for (const auto& entry : es) {
        const auto eb = entry.value().toGenericDict().at("momentum_buffer").toTensor();
        const auto ab = as.at(entry.key()).toGenericDict().at("momentum_buffer").toTensor();
        EXPECT_TRUE(torch::equal(eb, ab)) << "momentum buffer differs";
      }
    }
  }
}

TEST(CliResumeTest, ResumeOfAWorkDirWithoutCheckpointsFails) {
  TempDir dir;
  const std::string cfg = write_config(dir, 1);
  const auto [status, out] = run({"train", cfg, "--work-dir", dir / "empty", "--resume"}, dir);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("mmhook: error: resume: no checkpoint in '" + dir / "empty" + "'"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir / "empty/epoch_1.pth"));
}

TEST(CliResumeTest, SecondRunOnAWorkDirInUseFailsAtOnceNamingTheFirst) {
  TempDir dir;
  const std::string cfg = write_config(dir, 1000);
  const std::string work = dir / "work", log = dir / "first.log";
  const pid_t first = testing::spawn_training(cfg, work, log);
  ASSERT_GT(first, 0) << read_all(log);
  const auto [status, out] = run({"train", cfg, "--work-dir", work}, dir);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("in use by another run (pid " + std::to_string(first) + ")"),
            std::string::npos)
      << out;
  ::kill(first, SIGINT);
  EXPECT_EQ(wait_exit(first, 60), 128 + SIGINT) << read_all(log);
  // The lock ended with the first run.
  const auto [after_status, after_out] =
      run({"train", write_config(dir, 1), "--work-dir", work}, dir);
  EXPECT_EQ(after_status, 0) << after_out;
}

}  // namespace
}  // namespace mmhook
