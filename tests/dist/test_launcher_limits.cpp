// The local launcher under pressure: an absurd process count is refused up front, a forwarded
// SIGTERM escalates to SIGKILL after the grace period like a failing rank does, and rendezvous
// errors give their real cause and the time they took.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "mmhook/core/error.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/launcher.h"
#include "mmhook/dist/requeue.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

TEST(LauncherLimitsTest, AbsurdProcessCountIsRefusedUnlessForced) {
  dist::LaunchOptions opt;
  opt.nproc_per_node = dist::max_local_processes() + 1;
  try {
    (void)dist::launch_local({"/bin/true"}, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pass --force"), std::string::npos) << e.what();
  }
  opt.nproc_per_node = 0;
  EXPECT_THROW((void)dist::launch_local({"/bin/true"}, opt), Error);
  // Within the limit, a trivial program runs.
  opt.nproc_per_node = 2;
  EXPECT_EQ(dist::launch_local({"/bin/true"}, opt), 0);
}

TEST(LauncherLimitsTest, ForwardedSigtermEscalatesToSigkill) {
  // Children that ignore SIGTERM (the disposition survives exec) kept the launcher waiting as
  // long as they liked; now they get kill_grace_s, then SIGKILL.
  dist::LaunchOptions opt;
  opt.nproc_per_node = 2;
  opt.kill_grace_s = 0.5;
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(::getpid(), SIGTERM);  // caught by the launcher's handler while it waits
  });
  const auto start = std::chrono::steady_clock::now();
  const int rc = dist::launch_local({"/bin/sh", "-c", "trap '' TERM INT; exec sleep 60"}, opt);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sender.join();
  EXPECT_EQ(rc, 128 + SIGTERM);
  EXPECT_LT(seconds, 20.0);
}

TEST(LauncherRestartTest, StartsTheGroupAgainUntilItSucceedsOrTheRestartsRunOut) {
  // The children fail until their third start; they see the attempt and the limit.
  const std::vector<std::string> prog = {
      "/bin/sh", "-c",
      "test \"$TORCHELASTIC_MAX_RESTARTS\" = 2 && test \"$TORCHELASTIC_RESTART_COUNT\" -ge 2"};
  dist::LaunchOptions opt;
  opt.nproc_per_node = 2;
  opt.max_restarts = 2;
  EXPECT_EQ(dist::launch_local(prog, opt), 0);
  opt.max_restarts = 1;  // the limit is not what the children want either
  EXPECT_EQ(dist::launch_local(prog, opt), 1);
  opt.max_restarts = 0;
  EXPECT_EQ(dist::launch_local({"/bin/sh", "-c", "exit 7"}, opt), 7);
  opt.max_restarts = -1;
  EXPECT_THROW((void)dist::launch_local({"/bin/true"}, opt), Error);
}

// Runs children that wait for a signal and answer it with `on_usr1`, sends the launcher
// SIGUSR1 after half a second; the launcher's status.
int launch_and_preempt(const std::string& on_usr1, int max_restarts) {
  dist::LaunchOptions opt;
  opt.nproc_per_node = 2;
  opt.kill_grace_s = 5;
  opt.max_restarts = max_restarts;
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(::getpid(), SIGUSR1);  // a scheduler's warning, caught by the launcher and forwarded
  });
  const int rc = dist::launch_local(
      {"/bin/sh", "-c",
       "trap '" + on_usr1 + "' USR1; i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done"},
      opt);
  sender.join();
  return rc;
}

TEST(LauncherRestartTest, ForwardedPreemptionIsPassedOnAndNeverRestarted) {
  // Every rank saved and exited with the preemption status: so does the launcher, at once.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(launch_and_preempt("exit 75", 3), dist::kExitPreempted);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
  // Ranks that fail on it: the signal's status, still no restart.
  EXPECT_EQ(launch_and_preempt("exit 1", 3), 128 + SIGUSR1);
}

#ifdef MMHOOK_CLI
TEST(LauncherLimitsTest, CliSaysWhatTheProcessCountMustBe) {
  testing::TempDir dir;
  const std::string out = dir / "out.txt";
  const std::string cmd =
      std::string(MMHOOK_CLI) + " launch --nproc-per-node 0 -- train x.json > " + out + " 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  FILE* f = std::fopen(out.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[4096] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string text(buf, n);
  EXPECT_NE(text.find("must be an integer >= 1, got '0'"), std::string::npos) << text;
  EXPECT_EQ(text.find("1.797"), std::string::npos) << text;
}
#endif  // MMHOOK_CLI

}  // namespace
}  // namespace mmhook

namespace mmhook {
namespace {

std::string rendezvous_error(const dist::LaunchEnv& env, double timeout_s, double* seconds) {
  dist::DistOptions opt;
  opt.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  const auto start = std::chrono::steady_clock::now();
  std::string msg;
  try {
    dist::init_process_group(env, opt);
    dist::destroy_process_group();
  } catch (const Error& e) {
    msg = e.what();
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return msg;
}

// Rendezvous errors said "did not complete within 1.8e+03 s" after 1 s when the port was
// taken, and an unresolvable MASTER_ADDR could hang past the timeout.
TEST(RendezvousErrorTest, PortInUseSaysWhyAndWhen) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  dist::LaunchEnv env;
  env.master_addr = "127.0.0.1";
  env.master_port = ntohs(addr.sin_port);
  double seconds = 0;
  const std::string msg = rendezvous_error(env, 1800, &seconds);
  ::close(fd);
  EXPECT_NE(msg.find("failed after"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(timeout 1.8e+03 s)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("did not complete within"), std::string::npos) << msg;
  EXPECT_LT(seconds, 60.0);
}

TEST(RendezvousErrorTest, UnresolvableMasterAddrFailsWithinTheTimeout) {
  dist::LaunchEnv env;
  env.master_addr = "no-such-host.invalid";  // .invalid never resolves (RFC 2606)
  env.master_port = 29500;
  double seconds = 0;
  const std::string msg = rendezvous_error(env, 3, &seconds);
  EXPECT_NE(msg.find("MASTER_ADDR 'no-such-host.invalid'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("resolved"), std::string::npos) << msg;
  EXPECT_LT(seconds, 10.0);
}

// A rank that never joins: the ranks that did fail within dist_cfg.timeout, naming it.
TEST(RendezvousErrorTest, RankThatNeverJoinsIsNamedByRankZero) {
  dist::LaunchEnv env;
  env.rank = 0;
  env.world_size = 3;
  env.master_port = dist::find_free_port();
  double seconds = 0;
  const std::string msg = rendezvous_error(env, 2, &seconds);
  EXPECT_NE(msg.find("rank 0 of 3: rendezvous failed after"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ranks 1, 2 never joined (1 of 3 ranks did)"), std::string::npos) << msg;
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 10.0);
}

TEST(RendezvousErrorTest, MissingRankZeroIsNamedByTheOthers) {
  dist::LaunchEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = dist::find_free_port();  // nobody listens there
  double seconds = 0;
  const std::string msg = rendezvous_error(env, 2, &seconds);
  EXPECT_NE(msg.find("rank 1 of 2: rendezvous at the TCPStore"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 0, which hosts it, never joined or is unreachable"), std::string::npos)
      << msg;
  EXPECT_LT(seconds, 10.0);
}

// ---------------------------------------------------------------------------- requeue

// Sets an environment variable for one scope (unset when `value` is null), then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// A fake `scontrol` first on PATH that records its arguments, one per line, in `record`.
std::string fake_scontrol_dir(const testing::TempDir& dir, const std::string& record) {
  std::string bin = dir / "bin";
  std::filesystem::create_directories(bin);
  std::ofstream(bin + "/scontrol") << "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '" << record << "'\n";
  std::filesystem::permissions(bin + "/scontrol", std::filesystem::perms::owner_all);
  return bin;
}

TEST(RequeueTest, HostileJobIdsNeverReachScontrol) {
  testing::TempDir dir;
  const std::string record = dir / "args.txt";
  const std::string path = fake_scontrol_dir(dir, record) + ":/usr/bin:/bin";
  const ScopedEnv env("PATH", path.c_str());
  const std::string marker = dir / "pwned";
  for (const std::string& id :
       {"1; touch '" + marker + "'", "$(touch '" + marker + "')", "`touch " + marker + "`",
        std::string("1\n2"), std::string("'1'"), std::string("\"1\""), std::string("1_!"),
        std::string("1 2"), std::string("-1"), std::string(""), std::string("1__2"),
        std::string("_1"), std::string("1_")}) {
    try {
      (void)dist::requeue_slurm_job(id, 5);
      ADD_FAILURE() << "accepted job id '" << id << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kConfig) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected a SLURM job id"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists(record)) << "scontrol ran";
  EXPECT_FALSE(std::filesystem::exists(marker));
  // A good id reaches scontrol as one argument of its own.
  EXPECT_EQ(dist::requeue_slurm_job("4240_2", 5), "");
  std::ifstream in(record);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "requeue\n4240_2\n");
}

TEST(RequeueTest, HostileSlurmVariablesAreNamedNotPassedOn) {
  const ScopedEnv task("SLURM_ARRAY_TASK_ID", nullptr);
  const ScopedEnv array("SLURM_ARRAY_JOB_ID", nullptr);
  {
    const ScopedEnv job("SLURM_JOB_ID", "42$(id)\n");
    try {
      (void)dist::slurm_job_id();
      ADD_FAILURE() << "accepted a hostile SLURM_JOB_ID";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kConfig) << e.what();
      EXPECT_NE(std::string(e.what()).find("SLURM_JOB_ID"), std::string::npos) << e.what();
    }
  }
  const ScopedEnv job("SLURM_JOB_ID", "42");
  EXPECT_EQ(dist::slurm_job_id(), std::optional<std::string>("42"));
  const ScopedEnv array_job("SLURM_ARRAY_JOB_ID", "40");
  const ScopedEnv array_task("SLURM_ARRAY_TASK_ID", "3; reboot");
  try {
    (void)dist::slurm_job_id();
    ADD_FAILURE() << "accepted a hostile SLURM_ARRAY_TASK_ID";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SLURM_ARRAY_TASK_ID"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
