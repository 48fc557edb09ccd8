// docs/design.md §B7.4: vis_data/scalars.json, vis_data/<ts>.json, vis_data/config.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "mmhook/core/error.h"
#include "mmhook/logging/vis_backend.h"

namespace mmhook {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("mmhook_logging_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(LocalVisBackendTest, AppendsJsonLinesToBothFiles) {
  const std::string dir = temp_dir("local");
  {
    LocalVisBackend backend(dir, "20240101_000000");
    nlohmann::ordered_json tag;
    tag["lr"] = 0.1;
    tag["data_time"] = 0.5;
    tag["loss"] = 1.25;
    tag["time"] = 2.0;
    tag["epoch"] = 1;
    tag["iter"] = 10;
    tag["memory"] = 123;
    backend.add_scalars(tag, 10);
    // Flushed per call: readable before close.
    EXPECT_EQ(read_lines(dir + "/vis_data/scalars.json").size(), 1u);
    nlohmann::ordered_json val;
    val["accuracy"] = 0.9;
    val["step"] = 7;  // an explicit step wins (setdefault)
    backend.add_scalars(val, 1);
    backend.add_config("model = dict(type='ToyModel')\n");
    backend.close();
  }
  const std::vector<std::string> expected = {
      R"({"lr": 0.1, "data_time": 0.5, "loss": 1.25, "time": 2.0, "epoch": 1, "iter": 10, "memory": 123, "step": 10})",
      R"({"accuracy": 0.9, "step": 7})"};
  EXPECT_EQ(read_lines(dir + "/vis_data/scalars.json"), expected);
  EXPECT_EQ(read_lines(dir + "/vis_data/20240101_000000.json"), expected);
  EXPECT_EQ(read_lines(dir + "/vis_data/config.py"),
            (std::vector<std::string>{"model = dict(type='ToyModel')"}));
  fs::remove_all(dir);
}

TEST(LocalVisBackendTest, UnwritableDirectoryIsAnIoErrorNamingTheFile) {
  const std::string dir = temp_dir("blocked");
  { std::ofstream(dir + "/vis_data") << "a file, not a folder"; }
  LocalVisBackend backend(dir, "ts");
  try {
    backend.add_scalars(nlohmann::ordered_json{{"a", 1}}, 1);
    FAIL() << "writing under a file must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_NE(std::string(e.what()).find("vis_data"), std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmhook
