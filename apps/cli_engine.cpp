// The engine half of the mmhook command (docs/design.md §A6): train, validate or test from a JSON
// config. Built as a module that the mmhook executable (cli_main.cpp) loads only for these
// commands, so that --help, --version, plot and launch never load LibTorch.

#include <c10/util/Exception.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/config/config_node.h"
#include "mmhook/config/json_parse.h"
#include "mmhook/core/error.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/requeue.h"
#include "mmhook/engine/hook.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/priority.h"
#include "mmhook/engine/runner.h"
#include "mmhook/engine/runner_config.h"
#include "cli_options.h"

namespace {

mmhook::Runner* volatile g_runner = nullptr;
volatile std::sig_atomic_t g_signals = 0;
volatile std::sig_atomic_t g_first_signal = 0;
std::atomic<int64_t> g_first_sigint_ms{0};  // CLOCK_MONOTONIC ms of the first SIGINT
static_assert(std::atomic<int64_t>::is_always_lock_free, "used from a signal handler");

int64_t monotonic_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void say(const char* text, size_t size) {
  ssize_t ignored = ::write(STDERR_FILENO, text, size);
  (void)ignored;
}

// SIGINT, SIGTERM, SIGUSR1: the first asks the running loop to stop after the current iteration
// (in a data-parallel run every rank then stops after the same one), save a checkpoint and exit.
// SIGTERM and SIGUSR1 are a scheduler's preemption warnings (SLURM's --signal, its time limit):
// repeats are ignored, the scheduler's SIGKILL follows anyway. A second SIGINT exits at once,
// unless it comes within 300 ms of the first: a terminal's Ctrl-C reaches `mmhook launch`,
// which forwards it, and its ranks alike. Async-signal-safe: atomic stores, write(2), _Exit.
void on_signal(int sig) {
  if (g_signals > 0) {
    if (sig != SIGINT) return;
    if (g_first_sigint_ms != 0 && monotonic_ms() - g_first_sigint_ms < 300) return;
    static const char msg[] = "\nmmhook: interrupted again, exiting at once\n";
    say(msg, sizeof msg - 1);
    std::_Exit(128 + sig);
  }
  g_signals = 1;
  g_first_signal = sig;
  if (sig == SIGINT) g_first_sigint_ms = monotonic_ms() | 1;
  static const char interrupt[] =
      "\nmmhook: interrupt received, stopping after the current iteration (again to exit at "
      "once)\n";
  static const char preempt[] =
      "\nmmhook: stop signal received, saving a checkpoint after the current iteration\n";
  if (sig == SIGINT) {
    say(interrupt, sizeof interrupt - 1);
  } else {
    say(preempt, sizeof preempt - 1);
  }
  if (g_runner != nullptr) g_runner->request_stop();
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

// Exit status of a run stopped by `sig` (0: no signal here, a peer rank's stop): 128 + SIGINT for
// a user's interrupt, else kExitPreempted ("resume me").
int stop_status(int sig) { return sig == SIGINT ? 128 + SIGINT : mmhook::dist::kExitPreempted; }

// Makes an interrupted run stop and leave a resumable checkpoint: re-requests the stop at each
// iteration (a signal may land before the loop starts, which clears the flag), and at
// after_train writes iter_<N>.pth and points last_checkpoint at it, so `--resume` continues.
// In a data-parallel run the train loop's vote makes every rank stop after the same iteration;
// rank 0 writes, and no rank returns before the checkpoint is committed (a launcher or scheduler
// stops the group when its first process exits).
class InterruptHook : public mmhook::HookImpl<InterruptHook> {
 public:
  std::string saved;
  void before_train_iter(mmhook::Runner& runner, int64_t, const mmhook::TensorDict&) override {
    if (g_signals > 0 && !runner.stop_requested()) runner.request_stop();
  }
  void after_train(mmhook::Runner& runner) override {
    if (!runner.train_loop().interrupted()) return;
    mmhook::SaveCheckpointOptions opt;
    opt.meta_epoch = runner.epoch();
    opt.meta_iter = runner.iter();
    const std::string name = "iter_" + std::to_string(runner.iter()) + ".pth";
    runner.save_checkpoint(runner.work_dir(), name, opt);
    saved = (std::filesystem::path(runner.work_dir()) / name).string();
    // Committed like CheckpointHook's: only once the checkpoint is on disk, atomically, so a
    // second signal or a power cut never leaves it naming a partial file.
    if (runner.rank() == 0)
      mmhook::write_file_atomic(runner.work_dir() + "/last_checkpoint", saved);
    mmhook::dist::barrier();
    runner.logger().info("Interrupted: saved checkpoint " + saved);
  }
};

// `env_cfg.dist_cfg.requeue` under SLURM: puts the job back in the queue once its checkpoint is
// written (rank 0 only; `scontrol requeue` then ends this job, and the requeued one resumes with
// `--resume auto`). A failure is reported, not raised: the checkpoint is safe either way.
void requeue_this_job(mmhook::Runner& runner) {
  try {
    const std::optional<std::string> job = mmhook::dist::slurm_job_id();
    if (!job) {
      runner.logger().warn("env_cfg.dist_cfg.requeue: not a SLURM job (SLURM_JOB_ID is unset)");
      return;
    }
    const std::string error = mmhook::dist::requeue_slurm_job(*job);
    if (error.empty()) {
      runner.logger().info("Requeued SLURM job " + *job);
    } else {
      runner.logger().error("env_cfg.dist_cfg.requeue: " + error);
    }
  } catch (const std::exception& e) {
    runner.logger().error(std::string("env_cfg.dist_cfg.requeue: ") + e.what());
  }
}

// `val`/`test --checkpoint`: loads the checkpoint strictly at before_run, after every other
// hook's before_run (as MMEngine's load_or_resume does: EMAHook builds its averaged model there
// and swaps the EMA weights in at after_load_checkpoint).
class LoadCheckpointHook : public mmhook::HookImpl<LoadCheckpointHook> {
 public:
  explicit LoadCheckpointHook(std::string path) : path_(std::move(path)) {}
  void before_run(mmhook::Runner& runner) override {
    try {
      runner.load_checkpoint(path_, /*strict=*/true);
    } catch (const mmhook::Error& e) {
      if (std::string(e.what()).find(path_) != std::string::npos) throw;
      MMHOOK_THROW(e.code(), "checkpoint '", path_, "': ", e.what());
    }
  }

 private:
  std::string path_;
};

// c10 errors carry a C++ backtrace after the first line; users get the message only.
std::string first_line(const std::string& text) {
  const size_t nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

nlohmann::json load_config(const std::string& path) {
  nlohmann::json cfg = mmhook::parse_config_file(path);
  // Checked before --cfg-options and --work-dir index into it.
  if (!cfg.is_object())
    MMHOOK_THROW(mmhook::Code::kConfig, "config file '", path,
                 "': config must be a JSON object, got ",
                 cfg.is_array() ? "an array" : mmhook::json_type_name(cfg));
  return cfg;
}

// KEY=VALUE with a dotted key; VALUE is parsed as JSON when it is valid JSON, else a string.
// The new value must have the type of the value it replaces (integers may become numbers).
void apply_override(nlohmann::json& cfg, const std::string& option) {
  const size_t eq = option.find('=');
  if (eq == std::string::npos || eq == 0)
    MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options '", option, "': expected KEY=VALUE");
  const std::string key = option.substr(0, eq);
  const std::string text = option.substr(eq + 1);
  // Text that is not JSON is a string; JSON is read as strictly as a config file (duplicate
  // keys, nesting depth).
  nlohmann::json value = nlohmann::json::accept(text)
                             ? mmhook::parse_config_text(text, "--cfg-options " + key)
                             : nlohmann::json(text);
  nlohmann::json* node = &cfg;
  std::string path;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part =
        key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    path += (path.empty() ? "" : ".") + part;
    const bool is_index =
        !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (dot == std::string::npos) {
      nlohmann::json* target = nullptr;
      if (node->is_array() && is_index) {
        const size_t i = std::stoul(part);
        if (i >= node->size())
          MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": index out of range");
        target = &(*node)[i];
      } else if (node->is_object() || node->is_null()) {
        target = &(*node)[part];
      } else {
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", key, ": parent of '", part,
                     "' is not an object");
      }
      if (!target->is_null() && target->type() != value.type() &&
          !(target->is_number() && value.is_number()))
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": expected ",
                     target->type_name(), ", got ", value.dump());
      *target = value;
      return;
    }
    // Intermediate keys must exist (a new key is allowed only as the last part, where the
    // config check then rejects it unless the runner knows it).
    if (node->is_array() && is_index) {
      const size_t i = std::stoul(part);
      if (i >= node->size())
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": index out of range (",
                     node->size(), " items)");
      node = &(*node)[i];
    } else if (node->is_object()) {
      if (!node->contains(part)) {
        std::vector<std::string> keys;
        for (const auto& kv : node->items()) keys.push_back(kv.key());
        const std::string hint = mmhook::did_you_mean(part, keys);
        const std::string parent = path.size() > part.size()
                                       ? path.substr(0, path.size() - part.size() - 1)
                                       : "the config";
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", key, ": ", parent, " has no key '",
                     part, "'", hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
      }
      node = &(*node)[part];
    } else {
      MMHOOK_THROW(
          mmhook::Code::kConfig, "--cfg-options ", key, ": ",
          path.size() > part.size() ? path.substr(0, path.size() - part.size() - 1) : "the config",
          " is not an object");
    }
    start = dot + 1;
  }
}

nlohmann::json prepare(const mmhook::app::CommonOptions& c) {
  nlohmann::json cfg = load_config(c.config);
  for (const auto& o : c.cfg_options) apply_override(cfg, o);
  if (!c.work_dir.empty()) {
    cfg["work_dir"] = c.work_dir;
  } else if (!cfg.contains("work_dir")) {
    cfg["work_dir"] = "work_dirs/" + std::filesystem::path(c.config).stem().string();
  }
  if (c.launcher != "none") cfg["launcher"] = c.launcher;
  return cfg;
}

int run_engine(const mmhook::app::CliOptions& o) {
  using Command = mmhook::app::CliOptions::Command;
  try {
    if (o.command == Command::kTrain) {
      nlohmann::json cfg = prepare(o.common);
      if (o.resume && o.resume_from == "auto") {
        cfg["resume"] = "auto";  // a file named auto: --resume ./auto
      } else if (o.resume) {
        cfg["resume"] = true;
        if (!o.resume_from.empty()) cfg["load_from"] = o.resume_from;
      }
      install_signal_handlers();
      mmhook::Runner runner(cfg, o.common.config);
      if (g_signals > 0) {
        std::fprintf(stderr, "mmhook: interrupted by %s before training started\n",
                     signal_name(g_first_signal));
        return stop_status(g_first_signal);
      }
      auto interrupt = std::make_shared<InterruptHook>();
      runner.register_hook(interrupt, mmhook::get_priority(mmhook::Priority::kLowest));
      struct ClearRunner {
        ~ClearRunner() { g_runner = nullptr; }  // before `runner` is destroyed
      } clear_runner;
      g_runner = &runner;
      runner.train();
      if (runner.train_loop().interrupted()) {
        const int sig = g_signals > 0 ? static_cast<int>(g_first_signal) : 0;
        const std::string by = sig != 0 ? signal_name(sig) : "a stop on another rank";
        std::fprintf(stderr,
                     "mmhook: training interrupted by %s after %lld iterations (epoch %lld); "
                     "checkpoint %s; continue with: mmhook train %s --work-dir %s --resume\n",
                     by.c_str(), static_cast<long long>(runner.iter()),
                     static_cast<long long>(runner.epoch()), interrupt->saved.c_str(),
                     o.common.config.c_str(), runner.work_dir().c_str());
        const int status = stop_status(sig);
        if (status == mmhook::dist::kExitPreempted && runner.config().requeue && runner.rank() == 0)
          requeue_this_job(runner);
        return status;
      }
    } else {
      const bool is_test = o.command == Command::kTest;
      nlohmann::json cfg = prepare(o.common);
      cfg.erase("load_from");
      cfg["resume"] = false;
      mmhook::Runner runner(cfg, o.common.config);
      // Strict: a checkpoint of another model is an error naming the mismatched parameters.
      const std::string& ckpt = o.checkpoint;
      runner.register_hook(std::make_shared<LoadCheckpointHook>(ckpt),
                           mmhook::get_priority(mmhook::Priority::kLowest));
      const mmhook::Metrics metrics = is_test ? runner.test() : runner.val();
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& [k, v] : metrics) out[k] = v;
      std::cout << out.dump() << std::endl;
    }
  } catch (const mmhook::Error& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", first_line(e.what_without_backtrace()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "mmhook: error: out of memory (a dataset, batch, model or checkpoint larger "
                 "than this machine's memory?)\n");
    return 1;
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "mmhook: error: a size in the config or data is too large (%s)\n",
                 e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "mmhook: error: unknown exception\n");
    return 1;
  }
  return 0;
}

}  // namespace

/// The module's entry point (mmhook::app::EngineEntry): runs train, val or test.
extern "C" __attribute__((visibility("default"))) int mmhook_cli_engine_run(
    const mmhook::app::CliOptions* options, int abi_version) {
  if (options == nullptr || abi_version != mmhook::app::kCliAbiVersion) {
    std::fprintf(stderr,
                 "mmhook: error: the engine module does not match this mmhook executable (command "
                 "line version %d, module %d); reinstall mmhook\n",
                 abi_version, mmhook::app::kCliAbiVersion);
    return 1;
  }
  try {
    return run_engine(*options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mmhook: error: unknown exception\n");
  }
  return 1;
}
