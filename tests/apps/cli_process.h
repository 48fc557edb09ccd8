#pragma once
// Running the built `mmhook` command from the CLI tests: its path, starting it with argv (no
// shell) and output to a file, waiting for it with a deadline, reading what it wrote; the long
// toy run those tests interrupt, and telling when it has started training.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner_fixture.h"

extern char** environ;

namespace mmhook::testing {

/// The `mmhook` command of this build.
inline const std::string kMmhook = std::string(MMHOOK_BINARY_DIR) + "/mmhook";

/// The whole content of a file ("" when it cannot be read).
inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Starts `mmhook args...` with stdout and stderr to `log`; returns the pid (-1 on failure).
/// `env` entries ("NAME=VALUE") are added to this process's environment, replacing a variable
/// of the same name.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log,
                   const std::vector<std::string>& env = {}) {
  std::vector<std::string> all = {kMmhook};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  std::vector<std::string> vars = env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    bool replaced = false;
    for (const auto& v : env) replaced = replaced || v.compare(0, name.size() + 1, name + "=") == 0;
    if (!replaced) vars.push_back(var);
  }
  std::vector<char*> envp;
  envp.reserve(vars.size() + 1);
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  const int rc = posix_spawn(&pid, kMmhook.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

/// A toy training config for runs long enough to signal or kill mid-way: `num_samples` shuffled
/// ToyDataset samples in batches of 3, SGD with momentum, `max_epochs` epochs, no validation, the
/// logger every iteration (so training_started() turns true at the first iteration) and a
/// checkpoint per epoch.
inline nlohmann::json long_toy_config(int64_t num_samples, int64_t max_epochs) {
  nlohmann::json cfg = epoch_config("unused");
  cfg.erase("work_dir");
  cfg.erase("val_dataloader");
  cfg.erase("val_cfg");
  cfg.erase("val_evaluator");
  cfg["train_dataloader"]["sampler"]["shuffle"] = true;
  cfg["train_dataloader"]["dataset"] = {{"type", "ToyDataset"}, {"num_samples", num_samples}};
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.001}, {"momentum", 0.9}};
  cfg["train_cfg"] = {{"by_epoch", true}, {"max_epochs", max_epochs}};
  cfg["default_hooks"] = {{"logger", {{"type", "LoggerHook"}, {"interval", 1}}},
                          {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 1}}}};
  return cfg;
}

/// True once a training run in `work` has started: a `<timestamp>/vis_data/scalars.json` with
/// content (the logger writes it from the first logged iteration on).
inline bool training_started(const std::string& work) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(work, ec)) return false;
  for (const auto& e : fs::directory_iterator(work, ec))
    if (fs::file_size(e.path() / "vis_data" / "scalars.json", ec) > 0 && !ec) return true;
  return false;
}

/// Waits up to `seconds` for `pred`; its last answer.
template <class Pred>
bool wait_for(Pred pred, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

/// Exit status of `pid` (128 + signal when killed), -1 after a timeout (then it is killed).
inline int wait_exit(pid_t pid, double seconds) {
  int st = 0;
  const bool done = wait_for([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, seconds);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/// Starts `mmhook train config --work-dir work` (output to `log`) and waits up to 60 s for it to
/// reach its training loop: its pid, or -1 when it did not start or did not get there (then it
/// is killed; `log` says why).
inline pid_t spawn_training(const std::string& config, const std::string& work,
                            const std::string& log) {
  const pid_t pid = spawn({"train", config, "--work-dir", work}, log);
  if (pid <= 0) return -1;
  if (wait_for([&] { return training_started(work); }, 60)) return pid;
  (void)wait_exit(pid, 0);
  return -1;
}

}  // namespace mmhook::testing
