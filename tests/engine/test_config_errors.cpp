// Bad configs give errors naming the JSON path, with hints, and never crash (docs/design.md §A5).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

// Builds a runner and trains it; returns the error message (empty if none).
std::string error_of(const nlohmann::json& cfg) {
  try {
    Runner runner(cfg);
    runner.train();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected: " << part;
}

TEST(ConfigErrorTest, UnknownTopLevelKeyWithHint) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cgf"] = {{"max_epochs", 1}};
  const std::string msg = error_of(cfg);
  expect_contains(msg, "train_cgf: unknown key");
  expect_contains(msg, "did you mean 'train_cfg'");
}

TEST(ConfigErrorTest, UnknownNestedKeyNamesPath) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epoch"] = 3;
  const std::string msg = error_of(cfg);
  expect_contains(msg, "train_cfg.max_epoch");
  expect_contains(msg, "max_epochs");
}

TEST(ConfigErrorTest, WrongTypeNamesPathAndValue) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = "ten";
  expect_contains(error_of(cfg), "train_cfg.max_epochs: expected integer, got \"ten\"");
  auto cfg2 = testing::epoch_config(dir / "b");
  cfg2["optim_wrapper"]["optimizer"]["lr"] = "fast";
  expect_contains(error_of(cfg2), "optim_wrapper.optimizer.lr");
}

TEST(ConfigErrorTest, UnknownTypeNameWithHint) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir / "never_created");
  cfg["model"]["type"] = "ToyModle";
  const std::string msg = error_of(cfg);
  expect_contains(msg, "model.type: unknown model type 'ToyModle'");
  expect_contains(msg, "did you mean 'ToyModel'");
  // A rejected config writes nothing.
  EXPECT_FALSE(std::filesystem::exists(dir / "never_created"));
  auto cfg2 = testing::epoch_config(dir / "b");
  cfg2["custom_hooks"] = {{{"type", "NoSuchHook"}}};
  expect_contains(error_of(cfg2), "custom_hooks[0].type: unknown hook type 'NoSuchHook'");
}

TEST(ConfigErrorTest, BadHookOptionNamesHookAndValue) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"logger", {{"type", "LoggerHook"}, {"interval", -1}}}};
  const std::string msg = error_of(cfg);
  expect_contains(msg, "default_hooks.logger");
  expect_contains(msg, "LoggerHook.interval must be > 0, got -1");
}

TEST(ConfigErrorTest, MissingDatasetFileNamesTheFile) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_dataloader"]["dataset"] = {{"type", "FashionMNIST"}, {"data_root", dir / "missing"}};
  const std::string msg = error_of(cfg);
  expect_contains(msg, dir / "missing");
}

TEST(ConfigErrorTest, InvalidJsonFileNamesTheFile) {
  TempDir dir;
  std::ofstream(dir / "bad.json") << "{ \"model\": ";
  try {
    Runner::from_file(dir / "bad.json");
    FAIL();
  } catch (const Error& e) {
    expect_contains(e.what(), "bad.json");
    EXPECT_EQ(e.code(), Code::kConfig);
  }
}

}  // namespace
}  // namespace mmhook
