// Kill anywhere: `mmhook train` is SIGKILLed at random moments (during start-up, resume,
// training steps and checkpoint writes) and resumed with --resume until it finishes. Every
// resume must start from the newest complete checkpoint, last_checkpoint must never name a
// partial file, and the final parameters must equal an uninterrupted run's bit for bit.

#include <fcntl.h>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

const std::string kBinary = std::string(MMHOOK_BINARY_DIR) + "/mmhook";
const std::string kConfig = std::string(MMHOOK_SOURCE_DIR) + "/tests/reliability/kill_resume.json";
constexpr int kMaxIters = 120;
// Pause inside each checkpoint write (write_file_atomic's fault-injection knob), so that many
// kills land while a temporary checkpoint file is half written.
constexpr const char* kWritePauseUs = "15000";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts `mmhook train CONFIG --work-dir DIR [--resume] ARGS...` with stdout+stderr to `log`.
pid_t spawn(const std::string& work_dir, bool resume, const std::string& log,
            const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {kBinary, "train", kConfig, "--work-dir", work_dir};
  if (resume) args.push_back("--resume");
  for (const auto& a : extra) args.push_back(a);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::setenv("MMHOOK_FAULT_WRITE_PAUSE_US", kWritePauseUs, 1);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid`; returns its exit status, or 128 + signal.
int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// iter_N.pth files present (complete: they appear only by rename) and partial temp files.
struct DirState {
  std::vector<int> complete;
  int partial = 0;
};
DirState scan(const std::string& dir) {
  DirState s;
  if (!fs::exists(dir)) return s;  // killed before the run created its work dir
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".iter_", 0) == 0 && name.find(".tmp.") != std::string::npos) ++s.partial;
    if (name.rfind("iter_", 0) == 0 && e.path().extension() == ".pth")
      s.complete.push_back(std::stoi(name.substr(5)));
  }
  std::sort(s.complete.begin(), s.complete.end());
  return s;
}

c10::impl::GenericDict final_state(const std::string& dir) {
  return load_checkpoint_file(dir + "/iter_" + std::to_string(kMaxIters) + ".pth")
      .get("state_dict")
      .toGenericDict();
}

TEST(KillAnywhereTest, ResumesAfterEverySigkillToBitEqualParameters) {
  ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is not built";
  testing::TempDir tmp;
  const std::string ref_dir = tmp / "reference";
  std::string dir = tmp / "killed_0";
  int campaign = 0;
  double window = 8;  // iterations a kill may let run after start-up

  // The uninterrupted run, and a 1-iteration run to estimate start-up time.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(spawn(tmp / "startup", false, tmp / "startup.log",
                           {"--cfg-options", "train_cfg.max_iters=1"})),
            0)
      << slurp(tmp / "startup.log");
  const double startup_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(spawn(ref_dir, false, tmp / "reference.log")), 0)
      << slurp(tmp / "reference.log");
  const double per_iter_s = std::max(1e-3, (seconds_since(t0) - startup_s) / (kMaxIters - 1));

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  // Kill after a random delay: one time in five during start-up / resume, otherwise a few
  // iterations in (about 3 iterations of progress per kill: ~40 kills for the whole run).
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto delay = [&](std::mt19937& g) {
    return unit(g) < 0.2 ? unit(g) * startup_s : startup_s + unit(g) * window * per_iter_s;
  };

  // The final parameters of a finished campaign equal the uninterrupted run's, bit for bit.
  const auto expected = final_state(ref_dir);
  auto check_final = [&](const std::string& d) {
    const auto actual = final_state(d);
    ASSERT_EQ(expected.size(), actual.size());
    for (const auto& entry : expected) {
      const std::string key = entry.key().toStringRef();
      ASSERT_TRUE(actual.contains(key)) << key;
      const at::Tensor a = entry.value().toTensor();
      const at::Tensor b = actual.at(key).toTensor();
      EXPECT_TRUE(a.sizes() == b.sizes() && a.dtype() == b.dtype() && a.equal(b))
          << key << " differs from the uninterrupted run";
    }
  };
  int kills = 0, during_write = 0, uncommitted = 0, runs = 0;
  for (;; ++runs) {
    ASSERT_LT(runs, 200) << "training never finished";
    // Before every resume: last_checkpoint names a complete checkpoint that loads, the newest
    // one or an older one: a kill between a checkpoint's rename and last_checkpoint's update
    // leaves it behind, the resume continues from the newer complete checkpoint (without
    // rewriting it), and further such kills widen the gap.
    if (fs::exists(dir + "/last_checkpoint")) {
      const std::string named = slurp(dir + "/last_checkpoint");
      const DirState s = scan(dir);
      ASSERT_FALSE(s.complete.empty());
      Checkpoint ckpt;
      ASSERT_NO_THROW(ckpt = load_checkpoint_file(named)) << "last_checkpoint names " << named;
      const int64_t it = ckpt.meta().at("iter").toInt();
      ASSERT_EQ(named, dir + "/iter_" + std::to_string(it) + ".pth");
      ASSERT_LE(it, s.complete.back())
          << "last_checkpoint names iter " << it << ", newest complete is " << s.complete.back();
      if (it < s.complete.back()) ++uncommitted;
    }
    const std::string log = tmp / ("run_" + std::to_string(runs) + ".log");
    const bool may_kill = kills < 45;
    // --resume once a checkpoint exists: an explicit resume of a work_dir without any is an
    // error (it never starts over), so a kill before the first checkpoint means a fresh start.
    const pid_t pid = spawn(dir, /*resume=*/!scan(dir).complete.empty(), log);
    if (may_kill) {
      std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
      ::kill(pid, SIGKILL);
    }
    const int status = wait_for(pid);
    const std::string out = slurp(log);
    EXPECT_EQ(out.find("cannot resume"), std::string::npos) << "a resume needed a fallback:\n"
                                                            << out;
    if (status == 128 + SIGKILL) {
      ++kills;
      if (scan(dir).partial > 0) ++during_write;
      continue;
    }
    ASSERT_EQ(status, 0) << out;
    check_final(dir);
    // The resumed run removed the partial files earlier kills left (CheckpointHook).
    EXPECT_EQ(scan(dir).partial, 0) << "partial checkpoint files left in " << dir;
    if (kills >= 20) break;
    // Training outran the kills (timing estimates are rough on a loaded machine): another
    // campaign in a fresh folder with kills closer together.
    dir = tmp / ("killed_" + std::to_string(++campaign));
    window = std::max(1.0, window / 2);
  }
  std::printf(
      "kill anywhere: %d SIGKILLs (%d left a partial checkpoint write, %d between a "
      "checkpoint's rename and last_checkpoint's update), %d runs, %d campaigns, seed %u\n",
      kills, during_write, uncommitted, runs + 1, campaign + 1, seed);
  EXPECT_GE(kills, 20);
  EXPECT_GE(during_write, 1);
}

}  // namespace
}  // namespace mmhook
