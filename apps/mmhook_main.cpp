// The mmhook command: train, validate or test from a JSON config, plot a run (docs/design.md §A6).

#include <c10/util/Exception.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/config/config_node.h"
#include "mmhook/config/json_parse.h"
#include "mmhook/core/error.h"
#include "mmhook/dist/launcher.h"
#include "mmhook/engine/hook.h"
#include "mmhook/engine/priority.h"
#include "mmhook/engine/runner.h"
#include "mmhook/version.h"
#include "plot.h"

namespace {

mmhook::Runner* volatile g_runner = nullptr;
volatile std::sig_atomic_t g_signals = 0;
volatile std::sig_atomic_t g_first_signal = 0;

// SIGINT/SIGTERM: the first asks the running loop to stop after the current iteration; a second
// one exits at once (async-signal-safe: an atomic store, write(2), _Exit).
void on_signal(int sig) {
  if (g_signals > 0) {
    static const char msg[] = "\nmmhook: interrupted again, exiting at once\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    std::_Exit(128 + sig);
  }
  g_signals = 1;
  g_first_signal = sig;
  static const char msg[] =
      "\nmmhook: interrupt received, stopping after the current iteration (again to exit at "
      "once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  if (g_runner != nullptr) g_runner->request_stop();
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

const char* signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

// Makes an interrupted run stop and leave a resumable checkpoint: re-requests the stop at each
// iteration (a signal may land before the loop starts, which clears the flag), and at
// after_train writes iter_<N>.pth and points last_checkpoint at it, so `--resume` continues.
class InterruptHook : public mmhook::HookImpl<InterruptHook> {
 public:
  std::string saved;
  void before_train_iter(mmhook::Runner& runner, int64_t, const mmhook::TensorDict&) override {
    if (g_signals > 0 && !runner.stop_requested()) runner.request_stop();
  }
  void after_train(mmhook::Runner& runner) override {
    if (g_signals == 0) return;
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
    runner.logger().info("Interrupted: saved checkpoint " + saved);
  }
};

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

struct Common {
  std::string config;
  std::string work_dir;
  std::vector<std::string> cfg_options;
  std::string launcher = "none";
};

nlohmann::json prepare(const Common& c) {
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

}  // namespace

static int run_cli(int argc, char** argv) {
  CLI::App app{
      "mmhook: train, validate and test models from JSON configs (MMEngine's hooks on LibTorch)"};
  app.set_version_flag("--version", std::string("mmhook ") + mmhook::kVersionString);
  app.require_subcommand(1);

  Common train_opts, val_opts, test_opts;
  std::string resume_from;
  bool resume = false;
  std::string val_ckpt, test_ckpt;
  std::string plot_dir, plot_out;

  auto add_common = [](CLI::App* sub, Common& c) {
    sub->add_option("config", c.config, "JSON config file")->required()->check(CLI::ExistingFile);
    sub->add_option("--work-dir", c.work_dir, "directory for logs and checkpoints");
    sub->add_option("--cfg-options", c.cfg_options,
                    "override config keys: KEY=VALUE (dotted keys, list indices, JSON values)");
    sub->add_option("--launcher", c.launcher, "job launcher")
        ->check(CLI::IsMember({"none", "pytorch", "slurm"}));
  };
  CLI::App* train = app.add_subcommand("train", "train a model");
  add_common(train, train_opts);
  auto* resume_opt = train->add_option(
      "--resume", resume_from,
      "resume from CKPT; without a value from the work_dir's newest checkpoint (last_checkpoint, "
      "else the one with the most iterations), an error when it holds none");
  resume_opt->expected(0, 1);
  CLI::App* val = app.add_subcommand("val", "validate a checkpoint");
  add_common(val, val_opts);
  val->add_option("--checkpoint", val_ckpt, "checkpoint to evaluate")->required();
  CLI::App* test = app.add_subcommand("test", "test a checkpoint");
  add_common(test, test_opts);
  test->add_option("--checkpoint", test_ckpt, "checkpoint to evaluate")->required();
  CLI::App* plot = app.add_subcommand(
      "plot", "PNG of loss, learning rate and validation metrics per step (needs gnuplot)");
  plot->add_option("work_dir", plot_dir, "a training work_dir (its newest run is plotted)")
      ->required();
  plot->add_option("-o,--out", plot_out, "output PNG (default WORK_DIR/plot.png)");

  // mmhook launch --nproc-per-node N [--master-port P] -- <train|val|test args>
  mmhook::dist::LaunchOptions launch_opts;
  std::vector<std::string> launch_args;
  CLI::App* launch = app.add_subcommand(
      "launch", "run N processes of this command on this machine (data parallel, like torchrun)");
  launch->add_option("--nproc-per-node", launch_opts.nproc_per_node, "processes to start")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            // CLI11's PositiveNumber says "Value 0 not in range 0.000000 to 1.797e+308".
            try {
              size_t used = 0;
              const long long n = std::stoll(value, &used);
              if (used == value.size() && n >= 1) return "";
            } catch (const std::exception&) {  // not a number, or beyond long long
            }
            return "must be an integer >= 1, got '" + value + "'";
          },
          "INT>=1", "at least one"));
  launch->add_flag("--force", launch_opts.force,
                   "allow more than 16 processes per core of this machine");
  launch
      ->add_option("--master-port", launch_opts.master_port, "rank 0's port (default: a free one)")
      ->check(CLI::Range(0, 65535));
  launch->add_option("--master-addr", launch_opts.master_addr, "rank 0's address");
  launch->add_option("args", launch_args, "after --: the mmhook arguments of every process")
      ->required();

  CLI11_PARSE(app, argc, argv);
  if (*launch) {
    try {
      std::vector<std::string> child{std::filesystem::read_symlink("/proc/self/exe").string()};
      child.insert(child.end(), launch_args.begin(), launch_args.end());
      const std::string& sub = launch_args.front();
      const bool engine_cmd = sub == "train" || sub == "val" || sub == "test";
      bool has_launcher = false;
      for (const auto& a : launch_args)
        has_launcher = has_launcher || a.rfind("--launcher", 0) == 0;
      if (engine_cmd && !has_launcher) {
        child.push_back("--launcher");
        child.push_back("pytorch");
      }
      return mmhook::dist::launch_local(child, launch_opts);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mmhook: error: %s\n", e.what());
      return 1;
    }
  }
  resume = resume_opt->count() > 0;

  try {
    if (*train) {
      nlohmann::json cfg = prepare(train_opts);
      if (resume) {
        cfg["resume"] = true;
        if (!resume_from.empty()) cfg["load_from"] = resume_from;
      }
      install_signal_handlers();
      mmhook::Runner runner(cfg, train_opts.config);
      if (g_signals > 0) {
        std::fprintf(stderr, "mmhook: interrupted by %s before training started\n",
                     signal_name(g_first_signal));
        return 128 + g_first_signal;
      }
      auto interrupt = std::make_shared<InterruptHook>();
      runner.register_hook(interrupt, mmhook::get_priority(mmhook::Priority::kLowest));
      struct ClearRunner {
        ~ClearRunner() { g_runner = nullptr; }  // before `runner` is destroyed
      } clear_runner;
      g_runner = &runner;
      runner.train();
      if (g_signals > 0) {
        std::fprintf(stderr,
                     "mmhook: training interrupted by %s after %lld iterations (epoch %lld); "
                     "checkpoint %s; continue with: mmhook train %s --work-dir %s --resume\n",
                     signal_name(g_first_signal), static_cast<long long>(runner.iter()),
                     static_cast<long long>(runner.epoch()), interrupt->saved.c_str(),
                     train_opts.config.c_str(), runner.work_dir().c_str());
        return 128 + g_first_signal;
      }
    } else if (*val || *test) {
      const bool is_test = static_cast<bool>(*test);
      nlohmann::json cfg = prepare(is_test ? test_opts : val_opts);
      cfg.erase("load_from");
      cfg["resume"] = false;
      mmhook::Runner runner(cfg, is_test ? test_opts.config : val_opts.config);
      // Strict: a checkpoint of another model is an error naming the mismatched parameters.
      const std::string& ckpt = is_test ? test_ckpt : val_ckpt;
      runner.register_hook(std::make_shared<LoadCheckpointHook>(ckpt),
                           mmhook::get_priority(mmhook::Priority::kLowest));
      const mmhook::Metrics metrics = is_test ? runner.test() : runner.val();
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& [k, v] : metrics) out[k] = v;
      std::cout << out.dump() << std::endl;
    } else if (*plot) {
      const std::string png = mmhook::app::plot_work_dir(plot_dir, plot_out);
      std::cout << "mmhook plot: wrote " << png << std::endl;
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

int main(int argc, char** argv) {
  // run_cli reports every error of a command; this catches what its set-up could throw.
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mmhook: error: unknown exception\n");
  }
  return 1;
}
