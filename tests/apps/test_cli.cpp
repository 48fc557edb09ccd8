// The mmhook command end to end: what a run leaves in work_dir, `mmhook plot`, signals, and a
// clear message with a non-zero exit status (never a crash or a backtrace) for each bad input.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/checkpoint/checkpoint.h"
#include "apps/cli_process.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::kMmhook;
using testing::read_all;
using testing::TempDir;
using testing::wait_exit;
using testing::wait_for;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

struct Result {
  int status = -1;     // exit status, or 128 + signal
  std::string output;  // stdout + stderr
};

// Runs `args` (shell words, already quoted) through /bin/sh with stdout+stderr captured.
Result run(const std::string& args, const std::string& env = "") {
  Result r;
  const std::string cmd = env + (env.empty() ? "" : " ") + "'" + kMmhook + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// A failure is a one-line "mmhook: error: ..." with exit status 1, never a crash or backtrace.
void expect_clean_error(const Result& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("mmhook: error: "), std::string::npos) << r.output;
  for (const auto& part : parts)
    EXPECT_NE(r.output.find(part), std::string::npos) << "expected '" << part << "' in:\n"
                                                      << r.output;
  for (const char* bad : {"terminate called", "frame #", "Exception raised from", "Segmentation",
                          "core dumped", "Aborted"})
    EXPECT_EQ(r.output.find(bad), std::string::npos) << r.output;
}

// The toy config of docs/design.md §A8 with validation, best checkpoints, both vis backends.
nlohmann::json toy_config(int64_t max_epochs = 3) {
  nlohmann::json cfg = testing::epoch_config("unused");
  cfg.erase("work_dir");
  cfg["train_cfg"]["max_epochs"] = max_epochs;
  cfg["default_hooks"] = {
      {"logger", {{"type", "LoggerHook"}, {"interval", 1}}},
      {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 1}, {"save_best", "auto"}}}};
  cfg["visualizer"] = {
      {"type", "Visualizer"},
      {"vis_backends", {{{"type", "LocalVisBackend"}}, {{"type", "TensorboardVisBackend"}}}}};
  cfg["log_level"] = "INFO";
  return cfg;
}

std::string write_config(const TempDir& dir, const nlohmann::json& cfg,
                         const std::string& name = "toy.json") {
  std::string path = dir / name;
  write_text(path, cfg.dump(2));
  return path;
}

std::vector<std::string> list_files(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).string());
  std::sort(out.begin(), out.end());
  return out;
}

bool has_match(const std::vector<std::string>& files, const std::string& regex) {
  const std::regex re(regex);
  for (const auto& f : files)
    if (std::regex_match(f, re)) return true;
  return false;
}

// ---------------------------------------------------------------- what a run leaves, plot

TEST(CliWorkDirTest, TrainLeavesEveryArtifactAndPlotDrawsThem) {
  TempDir dir;
  const std::string cfg = write_config(dir, toy_config());
  const std::string work = dir / "work";
  Result r = run("train " + q(cfg) + " --work-dir " + q(work));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto files = list_files(work);
  std::string listing;
  for (const auto& f : files) listing += f + "\n";
  const std::string ts = "[0-9]{8}_[0-9]{6}";
  for (const std::string& re :
       {ts + "/" + ts + "\\.log",                       // the text log
        ts + "/vis_data/scalars\\.json",                // one JSON line per logged step
        ts + "/vis_data/events\\.out\\.tfevents\\..*",  // TensorBoard
        ts + "/vis_data/config\\.py",                   // the config, for the visualizer
        std::string("epoch_1\\.pth"), std::string("epoch_3\\.pth"),
        std::string("best_acc_epoch_[0-9]+\\.pth"), std::string("last_checkpoint"),
        std::string("toy\\.json"),  // the resolved config
        std::string("hook_timing\\.json")})
    EXPECT_TRUE(has_match(files, re)) << "no file matching " << re << " in:\n" << listing;
  // The resolved config is the merged one (work_dir filled in).
  const auto resolved = nlohmann::json::parse(read_all(work + "/toy.json"));
  EXPECT_EQ(resolved.at("work_dir"), work);
  // hook_timing.json has the dispatcher's per-hook, per-stage figures.
  const auto timing = nlohmann::json::parse(read_all(work + "/hook_timing.json"));
  EXPECT_NE(timing.dump().find("LoggerHook"), std::string::npos) << timing.dump();
  EXPECT_NE(timing.dump().find("after_train_iter"), std::string::npos) << timing.dump();

  // mmhook plot: a real PNG with three panels (loss, lr, validation).
  r = run("plot " + q(work));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string png = read_all(work + "/plot.png");
  ASSERT_GT(png.size(), 8000u) << r.output;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(16), 1000u);                       // width
  EXPECT_EQ(be32(20), 3u * 330u);                   // three panels
  EXPECT_FALSE(fs::exists(work + "/plot.png.gp"));  // the generated script is removed

  // -o elsewhere.
  r = run("plot " + q(work) + " -o " + q(dir / "out.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_all(dir / "out.png").substr(1, 3), "PNG");
}

TEST(CliPlotTest, WorkDirWithoutScalarsIsAClearError) {
  TempDir dir;
  fs::create_directories(dir / "empty_run");
  expect_clean_error(run("plot " + q(dir / "empty_run")),
                     {dir / "empty_run", "has no <timestamp>/vis_data/scalars.json"});
  expect_clean_error(run("plot " + q(dir / "missing")), {dir / "missing", "no such directory"});
}

TEST(CliPlotTest, MissingGnuplotIsAClearError) {
  TempDir dir;
  const std::string cfg = write_config(dir, toy_config(1));
  ASSERT_EQ(run("train " + q(cfg) + " --work-dir " + q(dir / "w")).status, 0);
  expect_clean_error(run("plot " + q(dir / "w"), "PATH=/nonexistent"),
                     {"needs gnuplot", "apt-get install gnuplot-nox"});
}

// ---------------------------------------------------------------- signals

// A long toy run (it would take minutes) whose only checkpoint is the one a stop writes.
std::string long_config(const TempDir& dir) {
  nlohmann::json cfg = testing::long_toy_config(12, 1000000);
  cfg["default_hooks"]["checkpoint"]["interval"] = 1000000;
  cfg["log_level"] = "INFO";
  return write_config(dir, cfg, "long.json");
}

void check_graceful_stop(int sig, const std::string& sig_name, int expected_status) {
  TempDir dir;
  const std::string cfg = long_config(dir), work = dir / "work", log = dir / "log.txt";
  const pid_t pid = testing::spawn_training(cfg, work, log);
  ASSERT_GT(pid, 0) << read_all(log);
  ::kill(pid, sig);
  EXPECT_EQ(wait_exit(pid, 60), expected_status) << read_all(log);
  const std::string out = read_all(log);
  EXPECT_NE(out.find("training interrupted by " + sig_name), std::string::npos) << out;
  EXPECT_NE(out.find("--resume"), std::string::npos) << out;
  // A checkpoint was written and last_checkpoint points at it; after_run ran (hook_timing.json).
  const std::string last = read_all(work + "/last_checkpoint");
  ASSERT_TRUE(fs::exists(last)) << "last_checkpoint: '" << last << "'\n" << out;
  EXPECT_NE(last.find("iter_"), std::string::npos) << last;
  const Checkpoint ckpt = load_checkpoint_file(last);
  const int64_t iters = ckpt.meta().at("iter").toInt();
  EXPECT_GT(iters, 0);
  EXPECT_EQ(fs::path(last).filename().string(), "iter_" + std::to_string(iters) + ".pth");
  EXPECT_TRUE(fs::exists(work + "/hook_timing.json")) << out;
}

// A user's interrupt: 128 + SIGINT, as a shell expects.
TEST(CliSignalTest, SigintStopsGracefullyWithACheckpoint) {
  check_graceful_stop(SIGINT, "SIGINT", 128 + SIGINT);
}

// A scheduler's stop or preemption warning: 75 (EX_TEMPFAIL), "resume me".
TEST(CliSignalTest, SigtermStopsGracefullyWithACheckpoint) {
  check_graceful_stop(SIGTERM, "SIGTERM", 75);
}

TEST(CliSignalTest, Sigusr1StopsGracefullyWithACheckpoint) {
  check_graceful_stop(SIGUSR1, "SIGUSR1", 75);
}

TEST(CliSignalTest, TwoSigintsAtOnceAreOneInterrupt) {
  // A terminal's Ctrl-C under `mmhook launch` reaches a rank twice: from the terminal and
  // forwarded by the launcher. That is one interrupt: the run still stops gracefully.
  TempDir dir;
  const std::string cfg = long_config(dir), work = dir / "work", log = dir / "log.txt";
  const pid_t pid = testing::spawn_training(cfg, work, log);
  ASSERT_GT(pid, 0) << read_all(log);
  ::kill(pid, SIGINT);
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid, 60), 128 + SIGINT) << read_all(log);
  const std::string out = read_all(log);
  EXPECT_NE(out.find("training interrupted by SIGINT"), std::string::npos) << out;
  EXPECT_EQ(out.find("interrupted again"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(read_all(work + "/last_checkpoint"))) << out;
}

TEST(CliSignalTest, SecondInterruptExitsAtOnce) {
  TempDir dir;
  // Slow iterations and a large checkpoint: the graceful stop takes long enough for a second
  // signal to land while it is still running.
  nlohmann::json cfg = nlohmann::json::parse(read_all(long_config(dir)));
  cfg["model"] = {{"type", "MLPClassifier"},
                  {"in_channels", 2},
                  {"hidden_dims", {3000, 3000}},
                  {"num_classes", 1}};
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 1e-6}, {"momentum", 0.9}};
  const std::string path = write_config(dir, cfg, "slow.json");
  const std::string work = dir / "work", log = dir / "log.txt";
  const pid_t pid = testing::spawn_training(path, work, log);
  ASSERT_GT(pid, 0) << read_all(log);
  ::kill(pid, SIGINT);
  ASSERT_TRUE(
      wait_for([&] { return read_all(log).find("interrupt received") != std::string::npos; }, 30))
      << read_all(log);
  // A second SIGINT within 300 ms is the same Ctrl-C arriving twice (through `mmhook
  // launch` and from the terminal): only a later one counts. The run is frozen meanwhile, so
  // that however fast this machine writes the checkpoint, the second one lands before the
  // graceful stop ends: it is pending when the process continues.
  ::kill(pid, SIGSTOP);
  ASSERT_TRUE(wait_for(
      [&] {
        const std::string stat = read_all("/proc/" + std::to_string(pid) + "/stat");
        const size_t close = stat.rfind(')');
        return close != std::string::npos && stat.compare(close + 2, 1, "T") == 0;
      },
      30));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ::kill(pid, SIGINT);
  ::kill(pid, SIGCONT);
  EXPECT_EQ(wait_exit(pid, 30), 128 + SIGINT) << read_all(log);
  const std::string out = read_all(log);
  EXPECT_NE(out.find("interrupted again, exiting at once"), std::string::npos) << out;
  EXPECT_EQ(out.find("training interrupted by"), std::string::npos) << out;  // no graceful end
}

// ---------------------------------------------------------------- bad input

// Writes an MNIST-format set (plain idx files) of `n` images into `root`.
void write_idx_set(const std::string& root, int n, bool truncate_images) {
  fs::create_directories(root);
  auto be = [](std::string& s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      s.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  std::string images, labels;
  be(images, 0x00000803);
  be(images, static_cast<uint32_t>(n));
  be(images, 28);
  be(images, 28);
  images.append(static_cast<size_t>(n) * 28 * 28 / (truncate_images ? 2 : 1), '\x10');
  be(labels, 0x00000801);
  be(labels, static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) labels.push_back(static_cast<char>(i % 10));
  write_text(root + "/train-images-idx3-ubyte", images);
  write_text(root + "/train-labels-idx1-ubyte", labels);
}

nlohmann::json mnist_config(const std::string& data_root) {
  nlohmann::json cfg = toy_config(1);
  cfg["model"] = {
      {"type", "MLPClassifier"}, {"in_channels", 784}, {"hidden_dims", {8}}, {"num_classes", 10}};
  cfg["train_dataloader"]["dataset"] = {{"type", "FashionMNIST"}, {"data_root", data_root}};
  cfg.erase("val_dataloader");
  cfg.erase("val_cfg");
  cfg.erase("val_evaluator");
  cfg.erase("test_dataloader");
  cfg.erase("test_cfg");
  cfg.erase("test_evaluator");
  cfg["default_hooks"] = {{"logger", {{"type", "LoggerHook"}, {"interval", 1}}}};
  return cfg;
}

TEST(CliBadInputTest, MissingDatasetFile) {
  TempDir dir;
  const std::string cfg = write_config(dir, mnist_config(dir / "no_data"));
  expect_clean_error(run("train " + q(cfg) + " --work-dir " + q(dir / "w")),
                     {dir / "no_data", "train-images-idx3-ubyte"});
}

TEST(CliBadInputTest, TruncatedDatasetFile) {
  TempDir dir;
  write_idx_set(dir / "data", 20, /*truncate_images=*/true);
  const std::string cfg = write_config(dir, mnist_config(dir / "data"));
  expect_clean_error(run("train " + q(cfg) + " --work-dir " + q(dir / "w")),
                     {dir / "data/train-images-idx3-ubyte", "truncated"});
  // The same set, whole, trains.
  write_idx_set(dir / "data", 20, false);
  Result ok = run("train " + q(cfg) + " --work-dir " + q(dir / "w"));
  EXPECT_EQ(ok.status, 0) << ok.output;
}

TEST(CliBadInputTest, ConfigNotJson) {
  TempDir dir;
  write_text(dir / "bad.json", "{\"model\": {\"type\": \"ToyModel\"},\n  work_dir: 3}");
  expect_clean_error(run("train " + q(dir / "bad.json")),
                     {dir / "bad.json", "invalid JSON", "line 2"});
}

// Config files a user (or an attacker) can hand over: the shape, a key written twice, nesting
// deep enough to exhaust the stack of a recursive copy.
TEST(CliBadInputTest, ConfigThatIsNotAnObjectDuplicatedOrTooDeep) {
  TempDir dir;
  write_text(dir / "array.json", "[{\"model\": {\"type\": \"ToyModel\"}}]");
  expect_clean_error(run("train " + q(dir / "array.json")),
                     {dir / "array.json", "config must be a JSON object, got an array"});
  nlohmann::json cfg = toy_config(1);
  std::string text = cfg.dump(2);
  text.insert(text.rfind('}'), ", \"work_dir\": \"a\", \"work_dir\": \"b\"\n");
  write_text(dir / "dup.json", text);
  expect_clean_error(run("train " + q(dir / "dup.json")),
                     {dir / "dup.json", "work_dir: duplicate key"});
  const int depth = 100000;
  write_text(dir / "deep.json",
             "{\"model\": " + std::string(depth, '[') + std::string(depth, ']') + "}");
  expect_clean_error(run("train " + q(dir / "deep.json")),
                     {dir / "deep.json", "model[0][0]", "nested deeper than 256 levels"});
  // --cfg-options values are read as strictly.
  const std::string path = write_config(dir, cfg);
  expect_clean_error(
      run("train " + q(path) + " --work-dir " + q(dir / "w") +
          " --cfg-options 'optim_wrapper.optimizer={\"type\": \"SGD\", \"lr\": 1, \"lr\": 2}'"),
      {"--cfg-options optim_wrapper.optimizer", "lr: duplicate key"});
  expect_clean_error(run("train " + q(path) + " --work-dir ''" + " --cfg-options work_dir="),
                     {"work_dir: is empty"});
}

// A config path naming a FIFO blocked forever; /dev/zero grew until memory ran out.
TEST(CliBadInputTest, ConfigThatIsNotARegularFile) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
  expect_clean_error(run("train " + q(dir / "fifo.json")), {dir / "fifo.json", "is a FIFO"});
  expect_clean_error(run("train /dev/zero"), {"/dev/zero", "not a regular file"});
}

TEST(CliBadInputTest, MissingConfigFile) {
  TempDir dir;
  Result r = run("train " + q(dir / "nope.json"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("nope.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
}

TEST(CliBadInputTest, UnknownKeyWithDidYouMean) {
  TempDir dir;
  nlohmann::json cfg = toy_config(1);
  cfg["train_cfg"]["max_epoch"] = 2;
  const std::string path = write_config(dir, cfg);
  expect_clean_error(run("train " + q(path) + " --work-dir " + q(dir / "w")),
                     {"train_cfg.max_epoch", "did you mean 'max_epochs'"});
}

TEST(CliBadInputTest, UnknownTypeWithDidYouMean) {
  TempDir dir;
  nlohmann::json cfg = toy_config(1);
  cfg["model"]["type"] = "ToyModle";
  const std::string path = write_config(dir, cfg);
  expect_clean_error(run("train " + q(path) + " --work-dir " + q(dir / "w")),
                     {"model.type: unknown model type 'ToyModle'", "did you mean 'ToyModel'"});
}

TEST(CliBadInputTest, CfgOptionsPathThatDoesNotExist) {
  TempDir dir;
  const std::string path = write_config(dir, toy_config(1));
  const std::string w = " --work-dir " + q(dir / "w");
  // A missing intermediate key is rejected by the override itself, with a hint.
  expect_clean_error(run("train " + q(path) + w + " --cfg-options optim_wraper.optimizer.lr=0.5"),
                     {"--cfg-options optim_wraper.optimizer.lr", "no key 'optim_wraper'",
                      "did you mean 'optim_wrapper'"});
  // A new leaf key is allowed by the override, then rejected by the config check with a hint.
  expect_clean_error(run("train " + q(path) + w + " --cfg-options train_cfg.max_epoch=3"),
                     {"train_cfg.max_epoch", "did you mean 'max_epochs'"});
  // A list index out of range; a type change.
  expect_clean_error(
      run("train " + q(path) + w + " --cfg-options visualizer.vis_backends.5.type=X"),
      {"--cfg-options visualizer.vis_backends.5", "index out of range"});
  expect_clean_error(run("train " + q(path) + w + " --cfg-options train_cfg.max_epochs=ten"),
                     {"--cfg-options train_cfg.max_epochs", "expected number, got \"ten\""});
  // A path through a value that is not an object.
  expect_clean_error(run("train " + q(path) + w + " --cfg-options train_cfg.max_epochs.x=1"),
                     {"--cfg-options train_cfg.max_epochs.x", "not an object"});
}

// Trains the toy config once; returns its work dir.
std::string trained_toy(const TempDir& dir) {
  const std::string cfg = write_config(dir, toy_config(1));
  Result r = run("train " + q(cfg) + " --work-dir " + q(dir / "trained"));
  EXPECT_EQ(r.status, 0) << r.output;
  return dir / "trained";
}

TEST(CliBadInputTest, CheckpointMissing) {
  TempDir dir;
  const std::string cfg = write_config(dir, toy_config(1));
  expect_clean_error(run("test " + q(cfg) + " --work-dir " + q(dir / "w") + " --checkpoint " +
                         q(dir / "none.pth")),
                     {dir / "none.pth"});
  expect_clean_error(
      run("train " + q(cfg) + " --work-dir " + q(dir / "w") + " --resume " + q(dir / "none.pth")),
      {dir / "none.pth"});
}

TEST(CliBadInputTest, CheckpointTruncated) {
  TempDir dir;
  const std::string work = trained_toy(dir);
  const std::string bytes = read_all(work + "/epoch_1.pth");
  write_text(dir / "cut.pth", bytes.substr(0, bytes.size() / 2));
  const std::string cfg = dir / "toy.json";
  expect_clean_error(
      run("test " + q(cfg) + " --work-dir " + q(dir / "w") + " --checkpoint " + q(dir / "cut.pth")),
      {dir / "cut.pth"});
  expect_clean_error(
      run("train " + q(cfg) + " --work-dir " + q(dir / "w2") + " --resume " + q(dir / "cut.pth")),
      {dir / "cut.pth"});
}

// `test --checkpoint` with EMAHook: the checkpoint is loaded after EMAHook built its averaged
// model at before_run (it was loaded before the run once, which EMAHook rejected).
TEST(CliTest, TestCheckpointWithEmaHook) {
  TempDir dir;
  nlohmann::json cfg = toy_config(1);
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"momentum", 0.01}, {"priority", "ABOVE_NORMAL"}}};
  const std::string path = write_config(dir, cfg);
  Result r = run("train " + q(path) + " --work-dir " + q(dir / "w"));
  ASSERT_EQ(r.status, 0) << r.output;
  Result t = run("test " + q(path) + " --work-dir " + q(dir / "w") + " --checkpoint " +
                 q(dir / "w/epoch_1.pth"));
  EXPECT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("{\""), std::string::npos) << t.output;  // the metrics line
}

TEST(CliBadInputTest, CheckpointFromAnotherModel) {
  TempDir dir;
  const std::string work = trained_toy(dir);
  nlohmann::json other = toy_config(1);
  other["model"] = {
      {"type", "MLPClassifier"}, {"in_channels", 2}, {"hidden_dims", {4}}, {"num_classes", 1}};
  const std::string cfg = write_config(dir, other, "mlp.json");
  const std::string ckpt = work + "/epoch_1.pth";
  // val/test load strictly: every mismatched parameter is named.
  expect_clean_error(
      run("test " + q(cfg) + " --work-dir " + q(dir / "w") + " --checkpoint " + q(ckpt)),
      {ckpt, "linear1.weight"});
  expect_clean_error(
      run("val " + q(cfg) + " --work-dir " + q(dir / "w") + " --checkpoint " + q(ckpt)),
      {ckpt, "linear1.weight"});
  // Resuming another model's checkpoint names the parameters as well.
  expect_clean_error(
      run("train " + q(cfg) + " --work-dir " + q(dir / "w2") + " --resume " + q(ckpt)),
      {"linear1.weight"});
  // load_from names the file as well as the parameters.
  expect_clean_error(run("train " + q(cfg) + " --work-dir " + q(dir / "w4") +
                         " --cfg-options load_from=" + q(ckpt)),
                     {"checkpoint '" + ckpt + "'", "linear1.weight"});
  // The matching model tests fine.
  Result ok = run("test " + q(dir / "toy.json") + " --work-dir " + q(dir / "w3") +
                  " --checkpoint " + q(ckpt));
  EXPECT_EQ(ok.status, 0) << ok.output;
}

TEST(CliBadInputTest, UnwritableWorkDir) {
  TempDir dir;
  const std::string cfg = write_config(dir, toy_config(1));
  write_text(dir / "a_file", "x");
  expect_clean_error(run("train " + q(cfg) + " --work-dir " + q(dir / "a_file/work")),
                     {dir / "a_file/work"});
}

}  // namespace
}  // namespace mmhook
