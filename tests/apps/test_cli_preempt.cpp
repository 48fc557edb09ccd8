// Preemption and restarts of data-parallel training, end to end through `mmhook launch`:
// a stop signal that reaches one rank stops both after the same iteration with one checkpoint
// (exit status 75), `--resume auto` then ends bit-identical to an uninterrupted run; a rank killed
// mid-epoch makes `launch --max-restarts 1` start both again, and they finish like the
// uninterrupted run too; `env_cfg.dist_cfg.requeue` runs `scontrol requeue` with the job id as
// argv, and refuses a job id that is not a number.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
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
using testing::training_started;
using testing::wait_exit;
using testing::wait_for;

constexpr int kPreempted = 75;

// 2 epochs of 3000 toy samples in batches of 3: 500 iterations per epoch on each of 2 ranks (1000
// in all), logging every iteration (training has started once scalars appear), a checkpoint every
// 200 iterations. `overrides` are merged at the top level.
std::string write_config(const TempDir& dir, const std::string& name,
                         const nlohmann::json& overrides = nlohmann::json::object()) {
  nlohmann::json cfg = testing::long_toy_config(3000, 2);
  cfg["default_hooks"]["checkpoint"] = {
      {"type", "CheckpointHook"}, {"interval", 200}, {"by_epoch", false}};
  cfg["log_level"] = "INFO";
  cfg.merge_patch(overrides);
  std::string path = dir / name;
  std::ofstream(path) << cfg.dump(2);
  return path;
}

// The pid of the child of `parent` whose environment has RANK=<rank> (-1 when none).
pid_t rank_pid(pid_t parent, int rank) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_all(e.path() / "stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid != parent) continue;
    const std::string env = read_all(e.path() / "environ");
    if (env.find(std::string("RANK=") + std::to_string(rank) + '\0') == 0 ||
        env.find(std::string(1, '\0') + "RANK=" + std::to_string(rank) + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// `mmhook launch --nproc-per-node 2 [extra...] -- train CFG --work-dir WORK [train_extra...]`.
std::vector<std::string> launch_args(const std::string& cfg, const std::string& work,
                                     const std::vector<std::string>& extra = {},
                                     const std::vector<std::string>& train_extra = {}) {
  std::vector<std::string> a = {"launch", "--nproc-per-node", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  a.insert(a.end(), {"--", "train", cfg, "--work-dir", work});
  a.insert(a.end(), train_extra.begin(), train_extra.end());
  return a;
}

// Every collective of the gradients takes at least 1 ms (the stop votes are exempt): 1000
// iterations last long enough on any machine for a signal or a kill to land mid-run.
const std::vector<std::string> kSlowLink = {"MMHOOK_DIST_DELAY_MS=1"};

// Runs `mmhook args...` to completion: exit status and output.
std::pair<int, std::string> run(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = spawn(args, log, kSlowLink);
  const int status = pid > 0 ? wait_exit(pid, 300) : -1;
  return {status, read_all(log)};
}

// Every parameter and momentum buffer of two checkpoints is bit-identical.
void expect_same_training(const std::string& expected_path, const std::string& actual_path) {
  const Checkpoint expected = load_checkpoint_file(expected_path);
  const Checkpoint actual = load_checkpoint_file(actual_path);
  EXPECT_EQ(expected.meta().at("iter").toInt(), actual.meta().at("iter").toInt());
  const auto e = expected.get("state_dict").toGenericDict();
  const auto a = actual.get("state_dict").toGenericDict();
  ASSERT_EQ(e.size(), a.size());
  for (const auto& entry : e)
    EXPECT_TRUE(torch::equal(entry.value().toTensor(), a.at(entry.key()).toTensor()))
        << entry.key().toStringRef() << " differs from the uninterrupted run";
  const auto es = expected.get("optimizer").toGenericDict().at("state").toGenericDict();
  const auto as = actual.get("optimizer").toGenericDict().at("state").toGenericDict();
  ASSERT_EQ(es.size(), as.size());
  for (const auto& entry : es)
    EXPECT_TRUE(torch::equal(entry.value().toGenericDict().at("momentum_buffer").toTensor(),
                             as.at(entry.key()).toGenericDict().at("momentum_buffer").toTensor()))
        << "momentum buffer differs from the uninterrupted run";
}

// The uninterrupted 2-rank run every test compares with (made once).
class CliPreemptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string cfg = write_config(*dir_, "toy.json");
    const auto [status, out] = run(launch_args(cfg, *dir_ / "straight"), *dir_ / "straight.log");
    ASSERT_EQ(status, 0) << out;
    ASSERT_TRUE(fs::exists(*dir_ / "straight/iter_1000.pth")) << out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string reference() { return *dir_ / "straight/iter_1000.pth"; }
  static TempDir* dir_;
};
TempDir* CliPreemptTest::dir_ = nullptr;

TEST_F(CliPreemptTest, SignalOnOneRankStopsBothAtOneIterationThenResumeAutoIsExact) {
  ASSERT_NE(dir_, nullptr);
  TempDir dir;
  const std::string cfg = write_config(dir, "toy.json");
  const std::string work = dir / "work", log = dir / "preempted.log";
  const pid_t launcher = spawn(launch_args(cfg, work), log, kSlowLink);
  ASSERT_GT(launcher, 0);
  ASSERT_TRUE(wait_for([&] { return training_started(work); }, 60)) << read_all(log);
  const pid_t rank1 = rank_pid(launcher, 1);
  ASSERT_GT(rank1, 0) << "no rank 1 under the launcher";
  ::kill(rank1, SIGUSR1);  // a preemption warning that reached one rank only
  ASSERT_EQ(wait_exit(launcher, 120), kPreempted) << read_all(log);
  const std::string out = read_all(log);

  // Both ranks report the same stop, one of them because of the other's signal.
  const std::regex stop_line(
      "training interrupted by (SIGUSR1|a stop on another rank) after "
      "([0-9]+) iterations");
  std::vector<std::string> whys, iters;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), stop_line);
       it != std::sregex_iterator(); ++it) {
    whys.push_back((*it)[1]);
    iters.push_back((*it)[2]);
  }
  ASSERT_EQ(iters.size(), 2u) << out;
  EXPECT_EQ(iters[0], iters[1]) << out;
  EXPECT_NE(std::find(whys.begin(), whys.end(), "SIGUSR1"), whys.end()) << out;
  EXPECT_NE(std::find(whys.begin(), whys.end(), "a stop on another rank"), whys.end()) << out;
  const std::string last = read_all(work + "/last_checkpoint");
  EXPECT_EQ(last, work + "/iter_" + iters[0] + ".pth") << out;
  const int64_t stopped_at = std::stoll(iters[0]);
  ASSERT_LT(stopped_at, 1000) << "the run ended before the signal landed";

  // The requeued job: `--resume auto` continues from that checkpoint.
  const auto [status, resumed] =
      run(launch_args(cfg, work, {}, {"--resume", "auto"}), dir / "resumed.log");
  ASSERT_EQ(status, 0) << resumed;
  if (stopped_at != 500) {  // not on the epoch boundary: the epoch continues where it stopped
    EXPECT_NE(resumed.find("Resuming epoch"), std::string::npos) << resumed;
  }
  expect_same_training(reference(), work + "/iter_1000.pth");
}

TEST_F(CliPreemptTest, KilledRankIsRestartedAndTheRunEndsExactlyLikeTheUninterruptedOne) {
  ASSERT_NE(dir_, nullptr);
  TempDir dir;
  const std::string cfg = write_config(dir, "toy.json");
  const std::string work = dir / "work", log = dir / "restarted.log";
  const pid_t launcher =
      spawn(launch_args(cfg, work, {"--max-restarts", "1"}, {"--resume", "auto"}), log, kSlowLink);
  ASSERT_GT(launcher, 0);
  // Mid-epoch, after the first periodic checkpoint: rank 1 dies without warning.
  ASSERT_TRUE(wait_for([&] { return fs::exists(work + "/iter_200.pth"); }, 120)) << read_all(log);
  const pid_t rank1 = rank_pid(launcher, 1);
  ASSERT_GT(rank1, 0) << "no rank 1 under the launcher";
  ::kill(rank1, SIGKILL);
  ASSERT_EQ(wait_exit(launcher, 240), 0) << read_all(log);
  const std::string out = read_all(log);
  EXPECT_NE(out.find("rank 1 (pid " + std::to_string(rank1) + ") was killed by signal"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("starting all 2 ranks again (restart 1 of 1)"), std::string::npos) << out;
  // The periodic checkpoints fall inside epochs: the restarted ranks continue one.
  EXPECT_NE(out.find("Resuming epoch"), std::string::npos) << out;
  expect_same_training(reference(), work + "/iter_1000.pth");
}

// A fake scontrol that records its arguments, one per line, in `record`.
std::string fake_scontrol(const TempDir& dir, const std::string& record) {
  std::string bin = dir / "bin";
  fs::create_directories(bin);
  const std::string path = bin + "/scontrol";
  std::ofstream(path) << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" << record
                      << "'\n";
  ::chmod(path.c_str(), 0755);
  return bin;
}

// A single-process run with `env_cfg.dist_cfg.requeue` on, a fake scontrol first on PATH and
// `env` added, stopped by `sig` once it trains.
struct RequeueRun {
  int status = -1;
  std::string out;     // its output
  std::string record;  // the fake scontrol's arguments, one per line ("" when it did not run)
  std::string work;
};

RequeueRun run_with_requeue(const TempDir& dir, const std::vector<std::string>& env, int sig) {
  RequeueRun r;
  const std::string record = dir / "scontrol_args.txt";
  const std::string bin = fake_scontrol(dir, record);
  const std::string cfg =
      write_config(dir, "toy.json", {{"env_cfg", {{"dist_cfg", {{"requeue", true}}}}}});
  r.work = dir / "work";
  const std::string log = dir / "run.log";
  const char* path = std::getenv("PATH");
  std::vector<std::string> all = {"PATH=" + bin + ":" + (path != nullptr ? path : "/usr/bin:/bin")};
  all.insert(all.end(), env.begin(), env.end());
  const pid_t pid = spawn({"train", cfg, "--work-dir", r.work}, log, all);
  if (pid > 0 && wait_for([&] { return training_started(r.work); }, 60)) ::kill(pid, sig);
  r.status = pid > 0 ? wait_exit(pid, 60) : -1;
  r.out = read_all(log);
  r.record = fs::exists(record) ? read_all(record) : "";
  return r;
}

TEST(CliRequeueTest, PreemptedRunRequeuesItsSlurmJobWithScontrol) {
  TempDir dir;
  const RequeueRun r = run_with_requeue(
      dir, {"SLURM_JOB_ID=4242", "SLURM_ARRAY_JOB_ID=4240", "SLURM_ARRAY_TASK_ID=2"}, SIGTERM);
  ASSERT_EQ(r.status, kPreempted) << r.out;
  EXPECT_EQ(r.record, "requeue\n4240_2\n") << r.out;
  EXPECT_NE(r.out.find("Requeued SLURM job 4240_2"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(read_all(r.work + "/last_checkpoint"))) << r.out;
}

TEST(CliRequeueTest, HostileJobIdIsRefusedAndTheCheckpointIsKept) {
  TempDir dir;
  const std::string hostile = "1; touch '" + (dir / "pwned") + "' $(id) \"\n!";
  const RequeueRun r = run_with_requeue(dir, {"SLURM_JOB_ID=" + hostile}, SIGUSR1);
  ASSERT_EQ(r.status, kPreempted) << r.out;
  EXPECT_NE(r.out.find("SLURM_JOB_ID: expected a SLURM job id"), std::string::npos) << r.out;
  EXPECT_EQ(r.record, "") << "scontrol ran";
  EXPECT_FALSE(fs::exists(dir / "pwned"));
  EXPECT_TRUE(fs::exists(read_all(r.work + "/last_checkpoint"))) << r.out;
}

}  // namespace
}  // namespace mmhook
