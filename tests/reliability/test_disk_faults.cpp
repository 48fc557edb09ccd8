// Disk full and unwritable folders: a checkpoint or log write that fails stops the run with an
// error naming the file and the system's reason, and leaves earlier checkpoints intact.
// Uses a tiny tmpfs (root, when mount is permitted) and a read-only remount of it; as non-root a
// chmod 0555 folder stands in for the read-only case and the disk-full case is skipped.

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

// A tmpfs of `size` mounted on a fresh folder for the scope; `ok()` false when not permitted.
class TinyTmpfs {
 public:
  explicit TinyTmpfs(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir_);
    ok_ = ::geteuid() == 0 &&
          ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0755").c_str()) == 0;
    if (!ok_) why_ = std::strerror(errno);
  }
  ~TinyTmpfs() {
    if (ok_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  bool remount_read_only() {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

 private:
  std::string dir_;
  bool ok_ = false;
  std::string why_;
};

nlohmann::json config(const std::string& work_dir, int64_t max_iters) {
  nlohmann::json cfg = testing::iter_config(work_dir);
  cfg["train_cfg"]["max_iters"] = max_iters;
  cfg["train_cfg"]["val_interval"] = 1000;
  cfg["default_hooks"] = {
      {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 1}, {"by_epoch", false}}},
      {"logger", {{"type", "LoggerHook"}, {"interval", 1000}, {"log_metric_by_epoch", false}}}};
  return cfg;
}

// Every iter_N.pth loads, last_checkpoint names one that loads, no temporary file is left.
int check_intact(const std::string& dir) {
  int complete = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << "temporary file left: " << name;
    if (e.path().extension() != ".pth") continue;
    EXPECT_NO_THROW((void)load_checkpoint_file(e.path().string())) << name;
    ++complete;
  }
  const std::string named = read_text_file(dir + "/last_checkpoint");
  EXPECT_NO_THROW((void)load_checkpoint_file(named)) << named;
  return complete;
}

class DiskFullTest : public ::testing::TestWithParam<bool> {};

// With async_save (GetParam()) the failed background write stops the run at the next iteration.
TEST_P(DiskFullTest, StopsTheRunAndKeepsEarlierCheckpoints) {
  TempDir tmp;
  TinyTmpfs disk(tmp / "disk", "96k");
  if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why();
  const std::string work = tmp / "disk/work";
  nlohmann::json cfg = config(work, 200);
  cfg["default_hooks"]["checkpoint"]["async_save"] = GetParam();
  Runner runner(cfg);
  try {
    runner.train();
    FAIL() << "200 checkpoints fitted in 96 KiB";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), Code::kIo) << msg;
    EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
    EXPECT_NE(msg.find(work), std::string::npos) << msg;
  }
  EXPECT_GT(runner.iter(), 0);
  EXPECT_LT(runner.iter(), 200);
  EXPECT_GT(check_intact(work), 0);
}
INSTANTIATE_TEST_SUITE_P(SyncAndAsyncSave, DiskFullTest, ::testing::Bool());

// The text log fills the disk (no checkpoints, no scalar files): spdlog only reports such a
// failure to its error handler; the run must stop with an Error naming the log file.
TEST(DiskFaultTest, TextLogOnAFullDiskStopsTheRun) {
  TempDir tmp;
  TinyTmpfs disk(tmp / "disk", "64k");
  if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why();
  const std::string work = tmp / "disk/work";
  nlohmann::json cfg = config(work, 100000);
  cfg["default_hooks"] = {{"checkpoint", nullptr},
                          {"logger", {{"type", "LoggerHook"}, {"interval", 1}}}};
  cfg["visualizer"] = {{"vis_backends", nlohmann::json::array()}};
  cfg["log_level"] = "INFO";  // the fixture's WARNING would write no lines
  Runner runner(cfg);
  try {
    runner.train();
    FAIL() << "100000 log lines fitted in 64 KiB";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), Code::kIo) << msg;
    EXPECT_NE(msg.find("cannot write the text log '" + runner.log_dir()), std::string::npos) << msg;
    EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
  }
  EXPECT_GT(runner.iter(), 0);
  EXPECT_LT(runner.iter(), 100000);
}

TEST(DiskFaultTest, UnwritableFolderStopsTheRunAndKeepsEarlierCheckpoints) {
  TempDir tmp;
  const std::string work = tmp / "disk/work";
  TinyTmpfs disk(tmp / "disk", "4m");
  {
    Runner runner(config(work, 3));
    runner.train();
  }
  const bool as_root = ::geteuid() == 0;
  if (as_root) {
    if (!disk.ok()) GTEST_SKIP() << "root, but cannot mount a tmpfs here: " << disk.why();
    ASSERT_TRUE(disk.remount_read_only()) << std::strerror(errno);
  } else {
    fs::permissions(work, fs::perms::owner_read | fs::perms::owner_exec);
  }
  nlohmann::json cfg = config(work, 6);
  cfg["resume"] = true;
  // The runner itself may already fail to open its log in the read-only folder: either way
  // an Error names the path.
  try {
    Runner runner(cfg);
    runner.train();
    FAIL() << "trained into a read-only folder";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("Read-only file system") != std::string::npos ||
                msg.find("Permission denied") != std::string::npos)
        << msg;
    EXPECT_NE(msg.find(work), std::string::npos) << msg;
  }
  if (!as_root) fs::permissions(work, fs::perms::owner_all);
  EXPECT_EQ(check_intact(work), 3);
  EXPECT_EQ(read_text_file(work + "/last_checkpoint"), work + "/iter_3.pth");
}

}  // namespace
}  // namespace mmhook
