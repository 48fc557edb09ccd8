// The mmhook command: train, validate or test from a JSON config (SPEC A6).

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"
#include "mmhook/dist/launcher.h"
#include "mmhook/engine/runner.h"
#include "mmhook/version.h"

namespace {

mmhook::Runner* g_runner = nullptr;
volatile std::sig_atomic_t g_signals = 0;

void on_signal(int sig) {
  if (++g_signals > 1) std::_Exit(128 + sig);  // a second Ctrl-C exits at once
  if (g_runner != nullptr) g_runner->request_stop();
}

nlohmann::json load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) MMHOOK_THROW(mmhook::Code::kIo, "config file '", path, "': cannot open");
  try {
    return nlohmann::json::parse(in, nullptr, true, true);
  } catch (const nlohmann::json::parse_error& e) {
    MMHOOK_THROW(mmhook::Code::kConfig, "config file '", path, "': invalid JSON: ", e.what());
  }
}

// KEY=VALUE with a dotted key; VALUE is parsed as JSON when it is valid JSON, else a string.
// The new value must have the type of the value it replaces (integers may become numbers).
void apply_override(nlohmann::json& cfg, const std::string& option) {
  const size_t eq = option.find('=');
  if (eq == std::string::npos || eq == 0)
    MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options '", option, "': expected KEY=VALUE");
  const std::string key = option.substr(0, eq);
  const std::string text = option.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
  nlohmann::json* node = &cfg;
  std::string path;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    path += (path.empty() ? "" : ".") + part;
    const bool is_index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
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
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": parent is not an object");
      }
      if (!target->is_null() && target->type() != value.type() &&
          !(target->is_number() && value.is_number()))
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": expected ",
                     target->type_name(), ", got ", value.dump());
      *target = value;
      return;
    }
    if (node->is_array() && is_index) {
      const size_t i = std::stoul(part);
      if (i >= node->size())
        MMHOOK_THROW(mmhook::Code::kConfig, "--cfg-options ", path, ": index out of range");
      node = &(*node)[i];
    } else {
      node = &(*node)[part];
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

int main(int argc, char** argv) {
  CLI::App app{"mmhook: train, validate and test models from JSON configs (MMEngine's hooks on LibTorch)"};
  app.set_version_flag("--version", std::string("mmhook ") + mmhook::kVersionString);
  app.require_subcommand(1);

  Common train_opts, val_opts, test_opts;
  std::string resume_from;
  bool resume = false;
  std::string val_ckpt, test_ckpt;

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
  auto* resume_opt = train->add_option("--resume", resume_from,
                                       "resume from CKPT, or from work_dir/last_checkpoint when no "
                                       "value is given");
  resume_opt->expected(0, 1);
  CLI::App* val = app.add_subcommand("val", "validate a checkpoint");
  add_common(val, val_opts);
  val->add_option("--checkpoint", val_ckpt, "checkpoint to evaluate")->required();
  CLI::App* test = app.add_subcommand("test", "test a checkpoint");
  add_common(test, test_opts);
  test->add_option("--checkpoint", test_ckpt, "checkpoint to evaluate")->required();

  // mmhook launch --nproc-per-node N [--master-port P] -- <train|val|test args>
  mmhook::dist::LaunchOptions launch_opts;
  std::vector<std::string> launch_args;
  CLI::App* launch = app.add_subcommand(
      "launch", "run N processes of this command on this machine (data parallel, like torchrun)");
  launch->add_option("--nproc-per-node", launch_opts.nproc_per_node, "processes to start")
      ->required()->check(CLI::PositiveNumber);
  launch->add_option("--master-port", launch_opts.master_port, "rank 0's port (default: a free one)")
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
      for (const auto& a : launch_args) has_launcher = has_launcher || a.rfind("--launcher", 0) == 0;
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
      mmhook::Runner runner(cfg, train_opts.config);
      g_runner = &runner;
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      runner.train();
      g_runner = nullptr;
      if (g_signals > 0) {
        std::fprintf(stderr, "mmhook: training interrupted by a signal at iteration %lld\n",
                     static_cast<long long>(runner.iter()));
        return 130;
      }
    } else if (*val || *test) {
      const bool is_test = static_cast<bool>(*test);
      nlohmann::json cfg = prepare(is_test ? test_opts : val_opts);
      cfg["load_from"] = is_test ? test_ckpt : val_ckpt;
      cfg["resume"] = false;
      mmhook::Runner runner(cfg, is_test ? test_opts.config : val_opts.config);
      const mmhook::Metrics metrics = is_test ? runner.test() : runner.val();
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& [k, v] : metrics) out[k] = v;
      std::cout << out.dump() << std::endl;
    }
  } catch (const mmhook::Error& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
