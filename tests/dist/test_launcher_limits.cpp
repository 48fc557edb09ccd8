// The local launcher under pressure: an absurd process count is refused up front, and a
// forwarded SIGTERM escalates to SIGKILL after the grace period like a failing rank does.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "mmhook/core/error.h"
#include "mmhook/dist/launcher.h"
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
