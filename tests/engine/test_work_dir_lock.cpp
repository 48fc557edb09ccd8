// One run per work_dir: the Runner locks WORK_DIR/.mmhook.lock for its lifetime, so a second
// run (another process, or another live runner of the same process) fails at once naming the
// holder's pid instead of interleaving logs and checkpoints.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Constructs a runner on `cfg` and returns the error it fails with ("" when it succeeds).
std::string construction_error(const nlohmann::json& cfg, Code* code = nullptr) {
  try {
    Runner runner(cfg);
    return "";
  } catch (const Error& e) {
    if (code != nullptr) *code = e.code();
    return e.what();
  }
}

TEST(WorkDirLockTest, SecondLiveRunnerOnTheSameWorkDirIsRefused) {
  TempDir dir;
  const auto cfg = testing::epoch_config(dir / "work");
  {
    Runner first(cfg);
    EXPECT_EQ(read_all(dir / "work/.mmhook.lock"), std::to_string(::getpid()) + "\n");
    Code code = Code::kOk;
    const std::string error = construction_error(cfg, &code);
    EXPECT_EQ(code, Code::kUnavailable) << error;
    EXPECT_NE(error.find("in use by another run (pid " + std::to_string(::getpid())),
              std::string::npos)
        << error;
    EXPECT_NE(error.find(dir / "work"), std::string::npos) << error;
    // Another work_dir is independent.
    EXPECT_EQ(construction_error(testing::epoch_config(dir / "other")), "");
    first.train();
  }
  // Released with the runner: runners created one after another (the C API's way) work.
  Runner again(cfg);
  again.train();
  EXPECT_EQ(again.epoch(), 2);
}

TEST(WorkDirLockTest, RunOfAnotherProcessIsRefusedWithItsPid) {
  TempDir dir;
  fs::create_directories(dir / "work");
  const std::string lock = dir / "work/.mmhook.lock";
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only system calls in the child (the parent has threads: no allocation): lock, write the
    // pid, report, wait for the parent.
    ::close(ready[0]);
    ::close(release[1]);  // or the read below would never see the parent close its end
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) ::_exit(1);
    char digits[24];
    size_t n = sizeof digits;
    digits[--n] = '\n';
    for (pid_t p = ::getpid(); p > 0; p /= 10) digits[--n] = static_cast<char>('0' + p % 10);
    if (::ftruncate(fd, 0) != 0 || ::write(fd, digits + n, sizeof digits - n) < 0) ::_exit(1);
    char c = 'x';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    while (::read(release[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const std::string error = construction_error(testing::epoch_config(dir / "work"));
  EXPECT_NE(error.find("in use by another run (pid " + std::to_string(child) + ")"),
            std::string::npos)
      << error;
  // Nothing of the refused run was written: no log folder next to the lock file.
  for (const auto& e : fs::directory_iterator(dir / "work"))
    EXPECT_EQ(e.path().filename().string(), ".mmhook.lock");
  ::close(release[1]);  // the holder exits, and the kernel releases its lock
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  EXPECT_EQ(construction_error(testing::epoch_config(dir / "work")), "");
}

}  // namespace
}  // namespace mmhook
