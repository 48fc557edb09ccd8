#include "mmhook/engine/runner.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <random>
#include <sstream>

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/checkpoint/resume.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/config/json_parse.h"
#include "mmhook/core/file_io.h"
#include "mmhook/core/log_callback.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/data/dataset.h"
#include "mmhook/data/sampler.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/grad_sync.h"
#include "mmhook/engine/env_setup.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/priority.h"
#include "mmhook/evaluator/evaluator.h"
#include "mmhook/logging/log_processor.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/logging/vis_backend.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"
#include "mmhook/optim/optimizer_builder.h"
#include "mmhook/scheduler/param_scheduler.h"
#include "mmhook/scheduler/scheduler_builder.h"
#include "mmhook/version.h"
#include "engine/work_dir_lock.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

const std::vector<std::string> kTopLevelKeys = {
    "model",         "work_dir",        "train_dataloader", "val_dataloader", "test_dataloader",
    "val_evaluator", "test_evaluator",  "train_cfg",        "val_cfg",        "test_cfg",
    "optim_wrapper", "param_scheduler", "default_hooks",    "custom_hooks",   "log_processor",
    "visualizer",    "randomness",      "env_cfg",          "load_from",      "resume",
    "auto_scale_lr", "experiment_name", "launcher",         "log_level",      "default_scope"};

// Python's logging level names in MMEngine's format.
class LevelNameFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static const char* names[] = {"DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", ""};
    const char* n = names[static_cast<int>(msg.level)];
    dest.append(n, n + std::strlen(n));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelNameFlag>();
  }
};

std::unique_ptr<spdlog::formatter> mmengine_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<LevelNameFlag>('*').set_pattern("%Y/%m/%d %H:%M:%S - mmengine - %* - %v");
  return f;
}

std::string make_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d_%H%M%S", &tm);
  return buf;
}

bool is_set(const nlohmann::json& cfg, const char* key) {
  auto it = cfg.find(key);
  return it != cfg.end() && !it->is_null();
}

std::string error_text(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

bool is_distributed_error(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const Error& e) {
    return e.code() == Code::kDistributed;
  } catch (...) {
    return false;
  }
}

}  // namespace

struct Runner::Impl {
  // First member, so destroyed last: the work_dir stays locked until everything else is done.
  std::unique_ptr<WorkDirLock> work_dir_lock;
  nlohmann::json cfg;
  std::string cfg_path;
  std::string work_dir, log_dir, timestamp, experiment_name;
  int64_t seed = 0;
  bool diff_rank_seed = false;
  std::shared_ptr<spdlog::logger> logger;
  std::string log_file;  // rank 0's text log
  // The first write error of the logger's sinks (spdlog reports them to an error handler, from
  // whichever thread logged); check_log_errors turns it into an Error.
  struct LogErrors {
    std::mutex mutex;
    std::string first;
    std::atomic<bool> failed{false};
  };
  std::shared_ptr<LogErrors> log_errors = std::make_shared<LogErrors>();
  std::shared_ptr<spdlog::logger> previous_default_logger;
  std::unique_ptr<MessageHub> message_hub;
  std::unique_ptr<LogProcessor> log_processor;
  std::vector<std::shared_ptr<VisBackend>> vis_backends;
  std::shared_ptr<BaseModel> model;
  std::shared_ptr<OptimWrapper> optim_wrapper;
  std::vector<std::shared_ptr<ParamScheduler>> param_schedulers;
  bool schedulers_built = false;
  std::shared_ptr<TrainLoop> train_loop;
  std::shared_ptr<EvalLoop> val_loop, test_loop;
  Dispatcher dispatcher;
  bool has_loaded = false;
  std::string current_error;
  bool in_after_run = false;
  bool running = false;  // inside train/val/test: no nested run, no hook (un)registration
  Metrics last_metrics;
};

namespace {
// Two runs in one work_dir would interleave their logs and overwrite each other's checkpoints:
// rank 0 locks it (every rank of a data-parallel job shares it) and all ranks fail together
// when it is taken, instead of the others waiting in a collective for a rank that gave up.
std::unique_ptr<WorkDirLock> lock_work_dir(const std::string& work_dir) {
  std::unique_ptr<WorkDirLock> lock;
  std::string error;
  int code = 0;
  if (dist::get_rank() == 0) {
    try {
      std::error_code ec;
      fs::create_directories(work_dir, ec);
      if (ec) MMHOOK_THROW(Code::kIo, "work_dir: cannot create '", work_dir, "': ", ec.message());
      lock = std::make_unique<WorkDirLock>(work_dir);
    } catch (const Error& e) {
      error = e.what();
      code = static_cast<int>(e.code());
    }
  }
  const nlohmann::json outcome = dist::broadcast_object({{"error", error}, {"code", code}});
  if (outcome["error"].get<std::string>().empty()) return lock;
  MMHOOK_THROW(static_cast<Code>(outcome["code"].get<int>()),
               dist::get_rank() == 0 ? "" : "rank 0: ", outcome["error"].get<std::string>());
}

// A hook (or another thread) calling train/val/test or registering a hook during a run would
// re-enter the loops or change the hook lists the dispatcher is iterating over.
void check_not_running(bool running, const char* what) {
  MMHOOK_CHECK_CODE(!running, Code::kFailedPrecondition, what,
                    " is not allowed while the runner is running (called from a hook?)");
}
}  // namespace

Runner::Runner(const nlohmann::json& cfg_in, const std::string& cfg_path)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (!cfg_in.is_object())
    MMHOOK_THROW(Code::kConfig, "config must be a JSON object, got ",
                 cfg_in.is_array() ? "an array" : json_type_name(cfg_in));
  // Before any recursive copy or dump of it: a config built in code is not checked by the
  // parser's depth limit.
  check_json_depth(cfg_in, "config");
  m.cfg = cfg_in;
  m.cfg_path = cfg_path;
  ConfigNode root(m.cfg, "");
  // Unknown top-level keys, with a hint.
  for (auto it = m.cfg.begin(); it != m.cfg.end(); ++it) {
    if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), it.key()) == kTopLevelKeys.end()) {
      const std::string hint = did_you_mean(it.key(), kTopLevelKeys);
      MMHOOK_THROW(Code::kConfig, it.key(), ": unknown key",
                   hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
    }
  }

  // 1. work_dir
  // Nothing is written to disk until the whole config is validated and the model and hooks
  // are built: a bad config leaves no files behind.
  const std::string work_dir = root.get<std::string>("work_dir", "work_dirs/default");
  if (work_dir.empty())
    root.fail("work_dir", "is empty (give a directory for logs and checkpoints)");
  m.work_dir = fs::absolute(work_dir).lexically_normal().string();
  if (!m.work_dir.empty() && m.work_dir.back() == '/') m.work_dir.pop_back();

  // 2. consistency checks (docs/design.md §B3.1)
  auto triple = [&](const char* a, const char* b, const char* c) {
    const int n = is_set(m.cfg, a) + is_set(m.cfg, b) + is_set(m.cfg, c);
    if (n != 0 && n != 3)
      MMHOOK_THROW(Code::kConfig, a, ", ", b, " and ", c,
                   " should be either all None or not None (set: ", is_set(m.cfg, a) ? a : "",
                   is_set(m.cfg, b) ? std::string(" ") + b : "",
                   is_set(m.cfg, c) ? std::string(" ") + c : "", ")");
  };
  triple("train_dataloader", "train_cfg", "optim_wrapper");
  triple("val_dataloader", "val_cfg", "val_evaluator");
  triple("test_dataloader", "test_cfg", "test_evaluator");
  if (is_set(m.cfg, "param_scheduler") && !is_set(m.cfg, "optim_wrapper"))
    MMHOOK_THROW(Code::kConfig, "param_scheduler: should be None when optim_wrapper is None");

  // Validate the shapes of keys read later, so errors surface at construction.
  for (const char* key : {"train_cfg", "val_cfg", "test_cfg", "train_dataloader", "val_dataloader",
                          "test_dataloader", "optim_wrapper", "default_hooks", "log_processor",
                          "visualizer", "randomness", "env_cfg", "auto_scale_lr"}) {
    if (is_set(m.cfg, key) && !m.cfg[key].is_object())
      MMHOOK_THROW(Code::kConfig, key, ": expected object, got ", json_type_name(m.cfg[key]));
  }
  for (const char* key : {"load_from", "experiment_name", "launcher", "log_level", "default_scope"})
    (void)root.get<std::string>(key, "");
  (void)root.get<bool>("resume", false);
  if (is_set(m.cfg, "custom_hooks") && !m.cfg["custom_hooks"].is_array())
    MMHOOK_THROW(Code::kConfig, "custom_hooks: expected list, got ",
                 json_type_name(m.cfg["custom_hooks"]));

  // 4-5. environment (the process group first: the seed and timestamp come from rank 0)
  {
    ConfigNode env = root.child("env_cfg");
    (void)env.get<bool>("cudnn_benchmark", false);
    (void)env.get<nlohmann::json>("mp_cfg", nullptr);
    dist::DistOptions dopt;
    if (env.has("dist_cfg")) {
      ConfigNode dc = env.child("dist_cfg");
      dopt.backend = dc.get<std::string>("backend", "gloo");
      const double timeout_s = dc.get<double>("timeout", 1800.0);
      if (!(timeout_s > 0)) dc.fail("timeout", "must be > 0 seconds");
      dopt.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
      dc.check_unused();
    } else {
      env.mark_used("dist_cfg");
    }
    (void)env.get<int64_t>("resource_limit", 4096);
    apply_env_settings(read_env_settings(env), m.dispatcher);  // threads, allocator, hook timing
    env.check_unused();
    const std::string launcher = root.get<std::string>("launcher", "none");
    if (launcher != "none" && !dist::is_distributed()) dist::init_dist(launcher, dopt);
  }
  m.timestamp = dist::broadcast_object(make_timestamp()).get<std::string>();
  {
    ConfigNode rnd = root.child("randomness");
    auto seed = rnd.get_optional<int64_t>("seed");
    m.diff_rank_seed = rnd.get<bool>("diff_rank_seed", false);
    const bool deterministic = rnd.get<bool>("deterministic", false);
    rnd.check_unused();
    if (seed) {
      m.seed = *seed;
    } else {
      std::random_device rd;
      // MMEngine's sync_random_seed: every rank takes rank 0's draw.
      m.seed = dist::broadcast_object(static_cast<int64_t>(rd() & 0x7fffffff)).get<int64_t>();
    }
    if (m.diff_rank_seed) m.seed += rank();
    torch::manual_seed(static_cast<uint64_t>(m.seed));
    if (deterministic) at::globalContext().setDeterministicAlgorithms(true, false);
  }

  // 6. experiment name and log dir
  const std::string exp = root.get<std::string>("experiment_name", "");
  if (!exp.empty()) {
    m.experiment_name = exp + "_" + m.timestamp;
  } else if (!cfg_path.empty()) {
    m.experiment_name = fs::path(cfg_path).stem().string() + "_" + m.timestamp;
  } else {
    m.experiment_name = m.timestamp;
  }
  m.log_dir = m.work_dir + "/" + m.timestamp;

  // 7. log processor (the logger, message hub and visualizer come once the config is valid)
  m.log_processor =
      std::make_unique<LogProcessor>(LogProcessor::from_config(root.child("log_processor")));

  // 8. model, hooks
  if (!is_set(m.cfg, "model")) MMHOOK_THROW(Code::kConfig, "model: required key is missing");
  m.model = model_registry().build(root.child("model"));

  // Default hooks in MMEngine's order; entries of default_hooks replace, add or (null) remove.
  nlohmann::ordered_json defaults = nlohmann::ordered_json::object();
  defaults["runtime_info"] = {{"type", "RuntimeInfoHook"}};
  defaults["timer"] = {{"type", "IterTimerHook"}};
  defaults["sampler_seed"] = {{"type", "DistSamplerSeedHook"}};
  defaults["logger"] = {{"type", "LoggerHook"}};
  defaults["param_scheduler"] = {{"type", "ParamSchedulerHook"}};
  defaults["checkpoint"] = {{"type", "CheckpointHook"}, {"interval", 1}};
  if (is_set(m.cfg, "default_hooks")) {
    for (auto it = m.cfg["default_hooks"].begin(); it != m.cfg["default_hooks"].end(); ++it) {
      if (it->is_null()) {
        defaults.erase(it.key());
      } else if (it->is_object()) {
        defaults[it.key()] = nlohmann::ordered_json::parse(it->dump());
      } else {
        MMHOOK_THROW(Code::kConfig, "default_hooks.", it.key(), ": expected object or null, got ",
                     json_type_name(*it));
      }
    }
  }
  for (auto it = defaults.begin(); it != defaults.end(); ++it) {
    const nlohmann::json hook_cfg = nlohmann::json::parse(it.value().dump());
    register_hook_from(hook_cfg, "default_hooks." + it.key(), std::nullopt);
  }
  if (is_set(m.cfg, "custom_hooks")) {
    const auto& list = m.cfg["custom_hooks"];
    for (size_t i = 0; i < list.size(); ++i)
      register_hook_from(list[i], "custom_hooks[" + std::to_string(i) + "]", std::nullopt);
  }
  // Ordering constraints must name registered hooks.
  for (const auto& h : hooks()) {
    for (const auto* list : {&h->run_after, &h->run_before}) {
      for (const auto& other : *list) {
        if (find_hook(other) != nullptr) continue;
        std::vector<std::string> known;
        for (const auto& k : hooks()) known.push_back(k->name());
        const std::string hint = did_you_mean(other, known);
        MMHOOK_THROW(Code::kConfig, "hook '", h->name(),
                     "': ", list == &h->run_after ? "after" : "before", " names unknown hook '",
                     other, "'", hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
      }
    }
  }

  // 9. directories (the work_dir locked first), logger, message hub, visualizer
  // A write past `ulimit -f` fails with EFBIG (reported like a full disk) instead of SIGXFSZ
  // ending the process silently: the text log and scalars are written before any checkpoint.
  ignore_sigxfsz_once();
  std::error_code ec;
  m.work_dir_lock = lock_work_dir(m.work_dir);
  fs::create_directories(m.log_dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "work_dir: cannot create '", m.log_dir, "': ", ec.message());
  {
    auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    if (rank() == 0) {
      std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
      m.log_file = m.log_dir + "/" + m.timestamp + ".log";
      try {
        file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(m.log_file, false);
      } catch (const spdlog::spdlog_ex& e) {  // names the file and the OS reason
        MMHOOK_THROW(Code::kIo, "work_dir: cannot open the log file: ", e.what());
      }
      m.logger = std::make_shared<spdlog::logger>(
          "mmengine", spdlog::sinks_init_list{console, file, host_log_sink()});
    } else {
      // As MMEngine's MMLogger: other ranks keep no log file and print errors only.
      console->set_level(spdlog::level::err);
      m.logger = std::make_shared<spdlog::logger>(
          "mmengine", spdlog::sinks_init_list{console, host_log_sink()});
    }
    m.logger->set_formatter(mmengine_formatter());
    const std::string level = root.get<std::string>("log_level", "INFO");
    m.logger->set_level(level == "DEBUG"     ? spdlog::level::debug
                        : level == "WARNING" ? spdlog::level::warn
                        : level == "ERROR"   ? spdlog::level::err
                                             : spdlog::level::info);
    m.logger->flush_on(spdlog::level::warn);
    m.logger->set_error_handler([errors = m.log_errors](const std::string& message) {
      std::lock_guard<std::mutex> lock(errors->mutex);
      if (errors->failed.load(std::memory_order_relaxed)) return;
      errors->first = message;
      errors->failed.store(true, std::memory_order_release);
      std::fprintf(stderr, "mmhook: log write failed: %s\n", message.c_str());
    });
    m.previous_default_logger = spdlog::default_logger();
    spdlog::set_default_logger(m.logger);
  }
  if (m.work_dir_lock && !m.work_dir_lock->unsupported().empty())
    m.logger->warn("work_dir is not locked against a second run (" +
                   m.work_dir_lock->unsupported() + ": " + m.work_dir_lock->path() + ")");
  m.message_hub = std::make_unique<MessageHub>(m.experiment_name);
  {
    ConfigNode vis = root.child("visualizer");
    (void)vis.get<std::string>("type", "Visualizer");
    (void)vis.get<std::string>("name", "visualizer");
    std::vector<ConfigNode> backends = vis.children("vis_backends");
    vis.check_unused();
    if (rank() != 0) backends.clear();  // visualizer backends are master-only
    if (rank() == 0 && !vis.contains("vis_backends")) {
      m.vis_backends.push_back(std::make_shared<LocalVisBackend>(m.log_dir, m.timestamp));
    }
    for (const auto& b : backends) {
      const std::string type = b.type();
      if (type == "LocalVisBackend") {
        m.vis_backends.push_back(std::make_shared<LocalVisBackend>(m.log_dir, m.timestamp));
      } else if (type == "TensorboardVisBackend") {
        m.vis_backends.push_back(std::make_shared<TensorboardVisBackend>(m.log_dir));
      } else {
        b.fail("type", "unknown vis backend type '" + type +
                           "' (known: LocalVisBackend, TensorboardVisBackend)");
      }
      b.check_unused();
    }
  }

  m.logger->info("Hooks will be executed in the following order:\n" + get_hooks_info());

  // Dump the resolved config.
  const std::string dump_name =
      cfg_path.empty() ? m.timestamp + ".json" : fs::path(cfg_path).filename().string();
  if (rank() == 0) std::ofstream(m.work_dir + "/" + dump_name) << m.cfg.dump(2) << "\n";
  for (auto& b : m.vis_backends) b->add_config(m.cfg.dump(2));
}

std::unique_ptr<Runner> Runner::from_file(const std::string& path) {
  const nlohmann::json cfg = parse_config_file(path);
  return std::make_unique<Runner>(cfg, path);
}

Runner::~Runner() {
  if (impl_ && impl_->logger) {
    impl_->logger->flush();
    if (spdlog::default_logger() == impl_->logger) {
      spdlog::set_default_logger(impl_->previous_default_logger
                                     ? impl_->previous_default_logger
                                     : spdlog::stderr_logger_mt("mmhook_default"));
    }
  }
}

// -- hooks -------------------------------------------------------------------------------------

void Runner::register_hook(std::shared_ptr<Hook> hook, std::optional<int> priority) {
  MMHOOK_CHECK(hook != nullptr, "register_hook: hook should be an instance of Hook, got null");
  check_not_running(impl_->running, "register_hook");
  impl_->dispatcher.add(hook, priority ? *priority : hook->default_priority());
}

void Runner::register_hook(const nlohmann::json& hook_cfg, std::optional<int> priority) {
  register_hook_from(hook_cfg, "hook", priority);
}

void Runner::register_hook_from(const nlohmann::json& hook_cfg, const std::string& path,
                                std::optional<int> priority) {
  if (!hook_cfg.is_object())
    MMHOOK_THROW(Code::kConfig, path, ": hook should be an instance of Hook or dict, got ",
                 json_type_name(hook_cfg));
  ConfigNode node(hook_cfg, path);
  std::optional<int> cfg_priority;
  if (node.has("priority")) {
    node.mark_used("priority");
    try {
      cfg_priority = get_priority(hook_cfg["priority"]);
    } catch (const Error& e) {
      node.fail("priority", e.what());
    }
  }
  node.mark_used("priority");
  // docs/design.md §A2: "after"/"before" name hooks to run after/before (a name or a list).
  auto names = [&](const char* key) {
    std::vector<std::string> out;
    if (!node.has(key)) {
      node.mark_used(key);
      return out;
    }
    const nlohmann::json v = node.require<nlohmann::json>(key);
    if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
    return node.require<std::vector<std::string>>(key);
  };
  const std::vector<std::string> after = names("after");
  const std::vector<std::string> before = names("before");
  std::shared_ptr<Hook> hook = hook_registry().build(node);
  hook->run_after.insert(hook->run_after.end(), after.begin(), after.end());
  hook->run_before.insert(hook->run_before.end(), before.begin(), before.end());
  const int p = priority       ? get_priority(*priority)
                : cfg_priority ? *cfg_priority
                               : hook->default_priority();
  check_not_running(impl_->running, "register_hook");
  impl_->dispatcher.add(hook, p);
}

const std::vector<std::shared_ptr<Hook>>& Runner::hooks() const {
  return impl_->dispatcher.hooks();
}
Hook* Runner::find_hook(const std::string& name) const { return impl_->dispatcher.find(name); }
std::string Runner::get_hooks_info() const { return impl_->dispatcher.hooks_info(); }
void Runner::call_hook(Stage stage, const StageArgs& args) {
  impl_->dispatcher.call(stage, *this, args);
}
Dispatcher& Runner::dispatcher() { return impl_->dispatcher; }

// -- counters ----------------------------------------------------------------------------------

int64_t Runner::epoch() const { return impl_->train_loop ? impl_->train_loop->epoch() : 0; }
int64_t Runner::iter() const { return impl_->train_loop ? impl_->train_loop->iter() : 0; }
int64_t Runner::max_epochs() const {
  return impl_->train_loop ? impl_->train_loop->max_epochs() : 0;
}
int64_t Runner::max_iters() const { return impl_->train_loop ? impl_->train_loop->max_iters() : 0; }

// -- components --------------------------------------------------------------------------------

BaseModel& Runner::model() { return *impl_->model; }

OptimWrapper& Runner::optim_wrapper() {
  Impl& m = *impl_;
  if (!m.optim_wrapper) {
    if (!is_set(m.cfg, "optim_wrapper"))
      MMHOOK_THROW(Code::kFailedPrecondition, "optim_wrapper should not be None");
    m.optim_wrapper =
        build_optim_wrapper(ConfigNode(m.cfg["optim_wrapper"], "optim_wrapper"), *m.model);
    MessageHub* hub = m.message_hub.get();
    m.optim_wrapper->set_scalar_sink(
        [hub](const std::string& key, double value) { hub->update_scalar(key, value); });
  }
  return *m.optim_wrapper;
}

bool Runner::has_optim_wrapper() const { return impl_->optim_wrapper != nullptr; }

std::vector<std::shared_ptr<ParamScheduler>>& Runner::param_schedulers() {
  return impl_->param_schedulers;
}

TrainLoop& Runner::train_loop() {
  Impl& m = *impl_;
  if (!m.train_loop) {
    if (!is_set(m.cfg, "train_cfg") || !is_set(m.cfg, "train_dataloader"))
      MMHOOK_THROW(Code::kFailedPrecondition,
                   "train loop should not be None: provide train_dataloader, train_cfg and "
                   "optim_wrapper to train");
    auto loader = build_data_loader(ConfigNode(m.cfg["train_dataloader"], "train_dataloader"),
                                    static_cast<uint64_t>(m.seed), rank(), world_size());
    nlohmann::json loop_cfg = m.cfg["train_cfg"];
    if (!loop_cfg.contains("type")) {
      const bool by_epoch = !loop_cfg.contains("by_epoch") || loop_cfg["by_epoch"].is_null() ||
                            (loop_cfg["by_epoch"].is_boolean() && loop_cfg["by_epoch"].get<bool>());
      if (loop_cfg.contains("by_epoch") && !loop_cfg["by_epoch"].is_boolean() &&
          !loop_cfg["by_epoch"].is_null())
        MMHOOK_THROW(Code::kConfig, "train_cfg.by_epoch: expected boolean, got ",
                     loop_cfg["by_epoch"].dump());
      loop_cfg.erase("by_epoch");
      loop_cfg["type"] = by_epoch ? "EpochBasedTrainLoop" : "IterBasedTrainLoop";
    }
    m.train_loop = train_loop_registry().build(ConfigNode(loop_cfg, "train_cfg"), *this, loader);
  }
  return *m.train_loop;
}

namespace {
std::shared_ptr<EvalLoop> build_eval_loop(Runner& runner, const nlohmann::json& cfg, bool test) {
  const char* prefix = test ? "test" : "val";
  const std::string dl_key = std::string(prefix) + "_dataloader";
  const std::string cfg_key = std::string(prefix) + "_cfg";
  const std::string ev_key = std::string(prefix) + "_evaluator";
  if (!is_set(cfg, dl_key.c_str()) || !is_set(cfg, cfg_key.c_str()))
    MMHOOK_THROW(Code::kFailedPrecondition, prefix, " loop should not be None: provide ", dl_key,
                 ", ", cfg_key, " and ", ev_key);
  nlohmann::json dl_cfg = cfg[dl_key];
  // Distributed evaluation: every sample once (no round-up padding), so the metrics gathered
  // across ranks count each sample exactly once.
  if (runner.world_size() > 1 && dl_cfg.is_object()) {
    nlohmann::json& sampler = dl_cfg["sampler"];
    if (sampler.is_null()) sampler = nlohmann::json::object();
    if (sampler.is_object() && sampler.value("type", "DefaultSampler") == "DefaultSampler")
      sampler["round_up"] = false;
  }
  auto loader = build_data_loader(ConfigNode(dl_cfg, dl_key), static_cast<uint64_t>(runner.seed()),
                                  runner.rank(), runner.world_size());
  auto evaluator = build_evaluator(cfg[ev_key], ev_key);
  nlohmann::json loop_cfg = cfg[cfg_key];
  if (!loop_cfg.contains("type")) loop_cfg["type"] = test ? "TestLoop" : "ValLoop";
  return eval_loop_registry().build(ConfigNode(loop_cfg, cfg_key), runner, loader, evaluator, test);
}
}  // namespace

EvalLoop& Runner::val_loop() {
  if (!impl_->val_loop) impl_->val_loop = build_eval_loop(*this, impl_->cfg, false);
  return *impl_->val_loop;
}

EvalLoop& Runner::test_loop() {
  if (!impl_->test_loop) impl_->test_loop = build_eval_loop(*this, impl_->cfg, true);
  return *impl_->test_loop;
}

bool Runner::train_loop_built() const { return impl_->train_loop != nullptr; }
bool Runner::val_loop_built() const { return impl_->val_loop != nullptr; }
bool Runner::test_loop_built() const { return impl_->test_loop != nullptr; }
bool Runner::has_val_loop() const { return is_set(impl_->cfg, "val_cfg"); }
bool Runner::has_test_loop() const { return is_set(impl_->cfg, "test_cfg"); }
MessageHub& Runner::message_hub() { return *impl_->message_hub; }
LogProcessor& Runner::log_processor() { return *impl_->log_processor; }
std::vector<std::shared_ptr<VisBackend>>& Runner::vis_backends() { return impl_->vis_backends; }
spdlog::logger& Runner::logger() { return *impl_->logger; }
const std::string& Runner::work_dir() const { return impl_->work_dir; }
const std::string& Runner::log_dir() const { return impl_->log_dir; }
const std::string& Runner::timestamp() const { return impl_->timestamp; }
const std::string& Runner::experiment_name() const { return impl_->experiment_name; }
int64_t Runner::seed() const { return impl_->seed; }
const nlohmann::json& Runner::cfg() const { return impl_->cfg; }
int Runner::rank() const { return dist::get_rank(); }
int Runner::world_size() const { return dist::get_world_size(); }
void Runner::request_stop() noexcept { stop_requested_.store(true, std::memory_order_relaxed); }
bool Runner::stop_requested() const noexcept {
  return stop_requested_.load(std::memory_order_relaxed);
}
const std::string& Runner::current_error() const { return impl_->current_error; }
const Metrics& Runner::last_metrics() const { return impl_->last_metrics; }
void Runner::record_metrics(const Metrics& metrics) { impl_->last_metrics = metrics; }

// -- run flow ----------------------------------------------------------------------------------

void Runner::run_guarded(const std::function<void()>& body) {
  Impl& m = *impl_;
  m.running = true;
  struct Done {
    Impl& m;
    ~Done() { m.running = false; }
  } done{m};
  stop_requested_.store(false);
  m.in_after_run = false;
  try {
    body();
  } catch (...) {
    std::exception_ptr first = std::current_exception();
    m.current_error = error_text(first);
    if (world_size() > 1 && !is_distributed_error(first)) {
      // Peers name this rank in their own errors (a collective with it will fail).
      m.current_error = "rank " + std::to_string(rank()) + ": " + m.current_error;
      dist::report_failure(m.current_error);
    }
    m.logger->error(m.current_error);
    StageArgs args;
    args.message = &m.current_error;
    // Every hook's on_exception and after_run runs, whichever of them fail.
    for (const std::string& e : m.dispatcher.call_each(Stage::kOnException, *this, args))
      m.logger->error("error in on_exception while handling a failure: " + e);
    if (!m.in_after_run) {
      for (const std::string& e : m.dispatcher.call_each(Stage::kAfterRun, *this, {}))
        m.logger->error("error in after_run while handling a failure: " + e);
    }
    m.logger->flush();
    std::rethrow_exception(first);
  }
}

void Runner::finish_run() {
  impl_->in_after_run = true;
  call_hook(Stage::kAfterRun);
  check_log_errors();
}

void Runner::check_log_errors() {
  Impl& m = *impl_;
  m.logger->flush();
  if (!m.log_errors->failed.load(std::memory_order_acquire)) return;
  std::string message;
  {
    std::lock_guard<std::mutex> lock(m.log_errors->mutex);
    message = m.log_errors->first;
    m.log_errors->failed.store(false, std::memory_order_relaxed);  // reported once
  }
  MMHOOK_THROW(Code::kIo, "cannot write the text log '", m.log_file, "': ", message);
}

void Runner::scale_lr() {
  Impl& m = *impl_;
  if (!is_set(m.cfg, "auto_scale_lr")) return;
  ConfigNode node(m.cfg["auto_scale_lr"], "auto_scale_lr");
  const bool enable = node.get<bool>("enable", false);
  auto base = node.get_optional<int64_t>("base_batch_size");
  node.check_unused();
  if (!enable) return;
  if (!base || *base <= 0)
    node.fail("base_batch_size", "is required (a positive integer) when enable is true");
  MMHOOK_CHECK_CODE(!m.schedulers_built, Code::kFailedPrecondition,
                    "auto_scale_lr must run before the parameter schedulers are built");
  const double ratio = static_cast<double>(world_size() * train_loop().dataloader().batch_size()) /
                       static_cast<double>(*base);
  OptimWrapper& ow = optim_wrapper();
  for (size_t g = 0; g < ow.num_param_groups(); ++g)
    ow.set_group_value(g, "lr", ow.get_group_value(g, "lr") * ratio);
  m.logger->info("LR is set based on batch size of " + std::to_string(*base) +
                 " and the current batch size is " +
                 std::to_string(world_size() * train_loop().dataloader().batch_size()) +
                 ". Scaling the original LR by " + std::to_string(ratio) + ".");
}

void Runner::build_param_schedulers() {
  Impl& m = *impl_;
  if (m.schedulers_built) return;
  m.schedulers_built = true;
  if (!is_set(m.cfg, "param_scheduler")) return;
  TrainLoop& loop = train_loop();
  m.param_schedulers =
      mmhook::build_param_schedulers(m.cfg["param_scheduler"], "param_scheduler", optim_wrapper(),
                                     loop.dataloader().size(), loop.max_epochs(), loop.max_iters());
}

void Runner::load_or_resume() {
  Impl& m = *impl_;
  if (m.has_loaded) return;
  const bool resume_flag = m.cfg.value("resume", false);
  const std::string load_from =
      is_set(m.cfg, "load_from") ? m.cfg["load_from"].get<std::string>() : "";
  if (resume_flag && load_from.empty()) {
    // An explicit resume continues the newest checkpoint of work_dir and never starts over:
    // a fresh start would overwrite the checkpoints of the run the user meant to continue.
    // A missing or junk last_checkpoint falls back to the checkpoint with the most iterations.
    std::vector<std::string> warnings;
    std::string path;
    try {
      path = find_resume_checkpoint(m.work_dir, warnings);
    } catch (const Error& e) {
      if (e.code() != Code::kNotFound) {
        for (const auto& w : warnings) m.logger->warn(w);
        throw;
      }
      MMHOOK_THROW(Code::kNotFound, "resume: no checkpoint in '", m.work_dir,
                   "' to resume from (resuming never starts over; start a new run without "
                   "resume)");
    }
    for (const auto& w : warnings) m.logger->warn(w);
    resume(path);
  } else if (resume_flag) {
    resume(load_from);
  } else if (!load_from.empty()) {
    load_checkpoint(load_from);
  }
}

void Runner::train() {
  Impl& m = *impl_;
  check_not_running(impl_->running, "Runner::train");
  TrainLoop& loop = train_loop();
  OptimWrapper& ow = optim_wrapper();
  scale_lr();
  build_param_schedulers();
  if (has_val_loop()) (void)val_loop();
  run_guarded([&] {
    call_hook(Stage::kBeforeRun);
    m.model->init_weights();
    load_or_resume();
    ow.initialize_count_status(*m.model, loop.iter(), loop.max_iters());
    if (world_size() > 1) {
      // DDP's start: rank 0's parameters and buffers everywhere, then gradients averaged after
      // each synchronising backward (per wrapper, over the parameters its optimiser updates).
      dist::broadcast_module_states(*m.model, 0);
      auto attach = [](OptimWrapper& w) {
        std::vector<at::Tensor> params;
        for (const auto& group : w.optimizer().param_groups())
          for (const auto& p : group.params()) params.push_back(p);
        auto sync = std::make_shared<dist::GradientSync>(std::move(params));
        w.set_grad_sync([sync] { sync->sync(); });
      };
      if (auto* dict = dynamic_cast<OptimWrapperDict*>(&ow)) {
        for (const auto& kv : dict->items()) attach(*kv.second);
      } else {
        attach(ow);
      }
      dist::reset_comm_stats();
    }
    loop.run();
    if (world_size() > 1) {
      const dist::CommStats st = dist::comm_stats();
      m.logger->info("data parallel: " + std::to_string(world_size()) + " processes, " +
                     std::to_string(st.calls) + " collectives, " + std::to_string(st.seconds) +
                     " s in collectives");
    }
    finish_run();
  });
}

Metrics Runner::val() {
  check_not_running(impl_->running, "Runner::val");
  EvalLoop& loop = val_loop();
  Metrics metrics;
  run_guarded([&] {
    call_hook(Stage::kBeforeRun);
    load_or_resume();
    metrics = loop.run();
    finish_run();
  });
  return metrics;
}

Metrics Runner::test() {
  check_not_running(impl_->running, "Runner::test");
  EvalLoop& loop = test_loop();
  Metrics metrics;
  run_guarded([&] {
    call_hook(Stage::kBeforeRun);
    load_or_resume();
    metrics = loop.run();
    finish_run();
  });
  return metrics;
}

// -- checkpoints -------------------------------------------------------------------------------

void Runner::save_checkpoint(const std::string& out_dir, const std::string& filename,
                             const SaveCheckpointOptions& opt) {
  const Checkpoint ckpt = make_checkpoint(opt);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create checkpoint dir '", out_dir, "': ", ec.message());
  if (rank() == 0) save_checkpoint_file((fs::path(out_dir) / filename).string(), ckpt);
}

Checkpoint Runner::make_checkpoint(const SaveCheckpointOptions& opt) {
  Impl& m = *impl_;
  TrainLoop& loop = train_loop();
  Checkpoint ckpt;
  const int64_t meta_epoch =
      opt.meta_epoch ? *opt.meta_epoch : (opt.by_epoch ? epoch() + 1 : epoch());
  const int64_t meta_iter = opt.meta_iter ? *opt.meta_iter : (opt.by_epoch ? iter() : iter() + 1);
  ckpt.set_meta("epoch", meta_epoch);
  ckpt.set_meta("iter", meta_iter);
  ckpt.set_meta("cfg", m.cfg.dump(2));
  ckpt.set_meta("seed", m.seed);
  ckpt.set_meta("experiment_name", m.experiment_name);
  ckpt.set_meta("time", make_timestamp());
  ckpt.set_meta("mmengine_version", std::string("mmhook ") + kVersionString);
  ckpt.set_meta("dataset_meta", json_to_ivalue(loop.dataloader().dataset().metainfo()));
  ckpt.set("state_dict", module_state_dict(*m.model));
  ckpt.set("message_hub", m.message_hub->state_dict());
  if (opt.save_optimizer && m.optim_wrapper) ckpt.set("optimizer", m.optim_wrapper->state_dict());
  if (opt.save_param_scheduler && !m.param_schedulers.empty()) {
    c10::impl::GenericList list(c10::AnyType::get());
    for (const auto& s : m.param_schedulers) list.push_back(s->state_dict());
    ckpt.set("param_schedulers", list);
  }
  ckpt.set("rng_state", capture_rng_state());
  {
    auto loop_state = make_generic_dict();
    loop_state.insert("epoch", loop.epoch());
    loop_state.insert("iter", loop.iter());
    loop_state.insert("by_epoch", loop.by_epoch());
    ckpt.set("loop_state", loop_state);
  }
  ckpt.set("hook_states", make_generic_dict());
  StageArgs args;
  args.checkpoint = &ckpt;
  call_hook(Stage::kBeforeSaveCheckpoint, args);
  return ckpt;
}

Checkpoint Runner::read_and_announce(const std::string& path) {
  Checkpoint ckpt = load_checkpoint_file(path);
  StageArgs args;
  args.checkpoint = &ckpt;
  call_hook(Stage::kAfterLoadCheckpoint, args);
  return ckpt;
}

void Runner::load_checkpoint(const std::string& path, bool strict) {
  Impl& m = *impl_;
  Checkpoint ckpt = read_and_announce(path);
  c10::impl::GenericDict state =
      ckpt.contains("state_dict") ? ckpt.get("state_dict").toGenericDict() : ckpt.dict();
  LoadReport report;
  try {
    report = load_module_state_dict(*m.model, state, strict);
  } catch (const Error& e) {
    // Shape or key mismatches name the parameters; the file is what the user has to change.
    if (std::string(e.what()).find(path) != std::string::npos) throw;
    MMHOOK_THROW(e.code(), "checkpoint '", path, "': ", e.what());
  } catch (const c10::Error& e) {
    MMHOOK_THROW(Code::kCheckpoint, "checkpoint '", path, "': ", e.what_without_backtrace());
  }
  if (!report.missing_keys.empty() || !report.unexpected_keys.empty()) {
    std::string msg = "The model and loaded state dict do not match exactly.";
    if (!report.unexpected_keys.empty()) {
      msg += " unexpected key in source state_dict:";
      for (const auto& k : report.unexpected_keys) msg += " " + k;
    }
    if (!report.missing_keys.empty()) {
      msg += " missing keys in source state_dict:";
      for (const auto& k : report.missing_keys) msg += " " + k;
    }
    m.logger->warn(msg);
  }
  m.has_loaded = true;
  m.logger->info("Load checkpoint from " + path);
}

void Runner::resume(const std::string& path) {
  Impl& m = *impl_;
  Checkpoint ckpt = read_and_announce(path);
  auto fail = [&](const std::string& what) {
    MMHOOK_THROW(Code::kCheckpoint, "checkpoint '", path, "': ", what);
  };
  if (!ckpt.contains("state_dict")) fail("has no 'state_dict' to resume from");
  load_module_state_dict(*m.model, ckpt.get("state_dict").toGenericDict(), false);
  auto meta = ckpt.meta();
  if (!meta.contains("epoch") || !meta.contains("iter")) fail("meta lacks 'epoch'/'iter'");
  TrainLoop& loop = train_loop();
  loop.set_counters(meta.at("epoch").toInt(), meta.at("iter").toInt());
  if (meta.contains("seed") && meta.at("seed").isInt() && meta.at("seed").toInt() != m.seed) {
    m.logger->warn(
        "The value of random seed in the checkpoint \"" + std::to_string(meta.at("seed").toInt()) +
        "\" is different from the value in `randomness` config \"" + std::to_string(m.seed) + "\"");
    m.seed = meta.at("seed").toInt();
  }
  if (meta.contains("dataset_meta")) {
    const nlohmann::json saved = ivalue_to_json(meta.at("dataset_meta"));
    if (saved != loop.dataloader().dataset().metainfo())
      m.logger->warn(
          "The dataset metainfo from the resumed checkpoint is different from the "
          "current training dataset, please check the correctness of the checkpoint "
          "or the training dataset.");
  }
  if (ckpt.contains("message_hub")) m.message_hub->load_state_dict(ckpt.get("message_hub"));
  if (ckpt.contains("optimizer")) optim_wrapper().load_state_dict(ckpt.get("optimizer"));
  build_param_schedulers();
  if (ckpt.contains("param_schedulers") && !m.param_schedulers.empty()) {
    auto list = ckpt.get("param_schedulers").toList();
    if (list.size() != m.param_schedulers.size())
      fail("has " + std::to_string(list.size()) + " param_schedulers, the config builds " +
           std::to_string(m.param_schedulers.size()));
    for (size_t i = 0; i < list.size(); ++i) m.param_schedulers[i]->load_state_dict(list.get(i));
  }
  if (ckpt.contains("rng_state")) restore_rng_state(ckpt.get("rng_state"));
  m.has_loaded = true;
  m.logger->info("resumed epoch: " + std::to_string(loop.epoch()) +
                 ", iter: " + std::to_string(loop.iter()));
}

}  // namespace mmhook
