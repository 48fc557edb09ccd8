// RunLogger (logging/run_logger.h): the run's "mmengine" logger, rank 0's text log in
// MMEngine's line format, the level, the default-logger hand-over, file-only error details.

#include "file_contents.h"
#include "mmhook/logging/run_logger.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "mmhook/core/error.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::file_contents;
using testing::TempDir;

TEST(RunLoggerTest, RankZeroWritesTheTextLogInMMEnginesFormat) {
  TempDir dir;
  std::string file;
  {
    RunLogger log(dir.path(), "20261206_010203", 0, "INFO");
    file = log.log_file();
    EXPECT_EQ(file, dir.path() + "/20261206_010203.log");
    log.logger().info("Epoch(train) [1][4/4]  lr: 1.0000e-01");
    log.logger().debug("not at INFO");
  }
  const std::string text = file_contents(file);
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d - mmengine - INFO - Epoch\(train\) )"
                       R"(\[1\]\[4/4\]  lr: 1\.0000e-01\n)")))
      << text;
  EXPECT_EQ(text.find("not at INFO"), std::string::npos) << text;
}

TEST(RunLoggerTest, TheLevelFiltersAndWarningIsMMEnginesName) {
  TempDir dir;
  std::string file;
  {
    RunLogger log(dir.path(), "t", 0, "WARNING");
    file = log.log_file();
    log.logger().info("an info line");
    log.logger().warn("a warning line");
  }
  const std::string text = file_contents(file);
  EXPECT_EQ(text.find("an info line"), std::string::npos) << text;
  EXPECT_NE(text.find(" - mmengine - WARNING - a warning line"), std::string::npos) << text;
}

TEST(RunLoggerTest, OtherRanksKeepNoFile) {
  TempDir dir;
  {
    RunLogger log(dir.path(), "t", 1, "INFO");
    EXPECT_EQ(log.log_file(), "");
    log.logger().info("rank 1 line");
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(RunLoggerTest, IsTheDefaultLoggerWhileItLivesAndHandsItBack) {
  TempDir dir;
  const std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
  std::string file;
  {
    RunLogger log(dir.path(), "t", 0, "INFO");
    file = log.log_file();
    EXPECT_EQ(spdlog::default_logger().get(), &log.logger());
    spdlog::info("logged without a Runner");
  }
  EXPECT_EQ(spdlog::default_logger(), before);
  EXPECT_NE(file_contents(file).find("logged without a Runner"), std::string::npos);
}

TEST(RunLoggerTest, FileOnlyTextReachesTheFileAlone) {
  TempDir dir;
  std::string file;
  ::testing::internal::CaptureStdout();
  {
    RunLogger log(dir.path(), "t", 0, "INFO");
    file = log.log_file();
    log.write_to_file_only("Traceback of TorchScript:\n  line 1\n  line 2");
  }
  const std::string console = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(file_contents(file).find(
                " - mmengine - ERROR - Traceback of TorchScript:\n  line 1\n  line 2"),
            std::string::npos);
  EXPECT_EQ(console.find("Traceback"), std::string::npos) << console;
}

TEST(RunLoggerTest, AnUnopenableLogFileIsAnIoErrorNamingIt) {
  TempDir dir;
  std::ofstream(dir / "not_a_folder") << "x";
  try {
    RunLogger log(dir / "not_a_folder", "t", 0, "INFO");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_NE(std::string(e.what()).find("not_a_folder/t.log"), std::string::npos) << e.what();
  }
}

TEST(RunLoggerTest, LevelNamesAreMMEnginesAndAnotherIsRefusedBeforeAFileIsMade) {
  for (const char* name : {"DEBUG", "INFO", "WARNING", "ERROR"})
    EXPECT_TRUE(RunLogger::is_level_name(name)) << name;
  for (const char* name : {"info", "WARN", "CRITICAL", ""})
    EXPECT_FALSE(RunLogger::is_level_name(name)) << name;
  TempDir dir;
  try {
    RunLogger log(dir.path(), "t", 0, "VERBOSE");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'VERBOSE'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace mmhook
