#include "mmhook/hooks/profiler_hook.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/cuda.h>

#include "hooks/builtin_hooks.h"
#include "hooks/profiler_native.h"
#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/engine/runner.h"

namespace mmhook {
namespace fs = std::filesystem;
namespace tprof = torch::autograd::profiler;
namespace timpl = torch::profiler::impl;

namespace {

std::string dump_value(const nlohmann::json& v) { return v.dump(); }

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

// -- ProfilerHook -------------------------------------------------------------------------------

struct ProfilerHook::Native {
  std::unique_ptr<at::RecordFunction> step_range;  // the open "ProfilerStep#N"
};

ProfilerHook::ProfilerHook(ProfilerHookOptions options)
    : options_(std::move(options)), native_(std::make_unique<Native>()) {
  MMHOOK_CHECK(options_.profile_times >= 1,
               "ProfilerHook.profile_times should be greater than or equal to 1, got ",
               options_.profile_times);
  MMHOOK_CHECK(!(options_.by_epoch && options_.profile_times > 1),
               "ProfilerHook.profile_times should be 1 when by_epoch=True, got ",
               options_.profile_times);
  if (!options_.schedule.is_null()) schedule_ = ProfilerSchedule::from_json(options_.schedule);
  const nlohmann::json& otr = options_.on_trace_ready;
  if (!options_.on_trace_ready_fn && !otr.is_null()) {
    MMHOOK_CHECK(otr.is_object() && otr.contains("type") && otr.at("type").is_string(),
                 "ProfilerHook.on_trace_ready should be a callable, a dict with a type, or None, "
                 "got ",
                 dump_value(otr));
    const std::string type = otr.at("type").get<std::string>();
    if (type == "log_trace") {
      for (const auto& kv : otr.items()) {
        const std::string& k = kv.key();
        if (k == "type") continue;
        if (k == "sort_by") {
          MMHOOK_CHECK(kv.value().is_string(),
                       "ProfilerHook.on_trace_ready.sort_by must be a "
                       "string, got ",
                       dump_value(kv.value()));
          log_sort_by_ = kv.value().get<std::string>();
        } else if (k == "row_limit") {
          MMHOOK_CHECK(kv.value().is_number_integer(),
                       "ProfilerHook.on_trace_ready.row_limit "
                       "must be an integer, got ",
                       dump_value(kv.value()));
          log_row_limit_ = kv.value().get<int64_t>();
        } else {
          MMHOOK_THROW(Code::kInvalidArgument,
                       "ProfilerHook.on_trace_ready (log_trace) got an "
                       "unsupported table argument '",
                       k, "' (supported: sort_by, row_limit)");
        }
      }
      ProfilerTrace({}).key_averages(log_sort_by_);  // validates sort_by now
    } else if (type == "tb_trace") {
      for (const auto& kv : otr.items()) {
        const std::string& k = kv.key();
        if (k == "type") continue;
        MMHOOK_CHECK(k == "dir_name" || k == "worker_name",
                     "ProfilerHook.on_trace_ready "
                     "(tb_trace) got an unsupported argument '",
                     k, "' (supported: dir_name, worker_name)");
        MMHOOK_CHECK(kv.value().is_string(), "ProfilerHook.on_trace_ready.", k,
                     " must be a string, got ", dump_value(kv.value()));
      }
    } else {
      MMHOOK_THROW(Code::kInvalidArgument, "ProfilerHook.on_trace_ready: unknown type '", type,
                   "' (expected 'log_trace' or 'tb_trace')");
    }
  }
}

ProfilerHook::~ProfilerHook() {
  // A hook destroyed mid-profile (never reached after_run) must not leave the thread's
  // profiler enabled.
  if (recording_) {
    native_->step_range.reset();
    try {
      (void)tprof::disableProfiler();
    } catch (...) {
    }
  }
}

namespace {
std::set<timpl::ActivityType> activities_of(const ProfilerHookOptions& o, Runner* runner) {
  std::set<timpl::ActivityType> acts;
  if (o.activity_with_cpu) acts.insert(timpl::ActivityType::CPU);
  if (o.activity_with_cuda) {
    if (torch::cuda::is_available()) {
      acts.insert(timpl::ActivityType::CUDA);
    } else if (runner != nullptr) {
      runner->logger().warn(
          "ProfilerHook: activity_with_cuda=True but CUDA is not available; "
          "profiling CPU activity only");
    }
  }
  if (acts.empty()) acts.insert(timpl::ActivityType::CPU);  // torch: all supported activities
  return acts;
}
}  // namespace

void ProfilerHook::start_recording() {
  const timpl::ProfilerConfig config(timpl::ProfilerState::KINETO, options_.record_shapes,
                                     options_.profile_memory, options_.with_stack,
                                     options_.with_flops);
  const auto acts = activities_of(options_, nullptr);
  try {
    tprof::prepareProfiler(config, acts);
    tprof::enableProfiler(config, acts);
  } catch (const c10::Error& e) {
    MMHOOK_THROW(Code::kTorch,
                 "ProfilerHook: cannot start the profiler: ", e.what_without_backtrace());
  }
  recording_ = true;
}

void ProfilerHook::stop_recording(Runner& runner) {
  native_->step_range.reset();
  std::unique_ptr<tprof::ProfilerResult> result;
  try {
    result = tprof::disableProfiler();
  } catch (const c10::Error& e) {
    recording_ = false;
    MMHOOK_THROW(Code::kTorch,
                 "ProfilerHook: cannot stop the profiler: ", e.what_without_backtrace());
  }
  recording_ = false;
  std::vector<ProfilerEvent> events;
  if (result) {
    events.reserve(result->events().size());
    for (const tprof::KinetoEvent& k : result->events()) {
      ProfilerEvent e;
      e.name = k.name();
      e.start_us = static_cast<int64_t>(k.startUs());
      e.duration_us = static_cast<int64_t>(k.durationUs());
      e.thread = k.startThreadId();
      if (k.hasShapes()) {
        for (const auto& s : k.shapes()) e.shapes.push_back(s);
      }
      e.flops = k.flops();
      events.push_back(std::move(e));
    }
  }
  last_trace_ = std::make_shared<ProfilerTrace>(std::move(events));
  auto native = std::make_shared<detail::NativeProfilerResult>();
  native->result = std::move(result);
  last_trace_->native_ = std::move(native);
  (void)runner;
}

void ProfilerHook::trace_ready(Runner& runner) {
  if (!last_trace_) return;
  if (options_.on_trace_ready_fn) {
    options_.on_trace_ready_fn(*last_trace_);
    return;
  }
  const nlohmann::json& otr = options_.on_trace_ready;
  if (otr.is_null()) return;
  const std::string type = otr.at("type").get<std::string>();
  if (type == "log_trace") {
    runner.logger().info("\n" + last_trace_->table(log_sort_by_, log_row_limit_));
  } else {  // tb_trace: torch.profiler.tensorboard_trace_handler's file naming
    const std::string worker = otr.contains("worker_name")
                                   ? otr.at("worker_name").get<std::string>()
                                   : hostname() + "_" + std::to_string(getpid());
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    const std::string path =
        (fs::path(tb_dir_) / (worker + "." + std::to_string(ms) + ".pt.trace.json")).string();
    last_trace_->export_chrome_trace(path);
  }
}

// torch.profiler.profile._transit_action (stop/trace_ready pairs; prepare is part of start).
void ProfilerHook::transit(Runner& runner, Action from, std::optional<Action> to) {
  const bool was_recording = from == Action::kRecord || from == Action::kRecordAndSave;
  if (!to) {  // exiting the profiler
    if (from == Action::kWarmup) {
      start_recording();
      stop_recording(runner);
    } else if (was_recording) {
      stop_recording(runner);
      trace_ready(runner);
    }
    return;
  }
  const bool will_record = *to == Action::kRecord || *to == Action::kRecordAndSave;
  if (from == Action::kRecordAndSave) {
    stop_recording(runner);
    trace_ready(runner);
    if (will_record) start_recording();
    return;
  }
  if (from == Action::kRecord && !will_record) {
    runner.logger().warn(
        "ProfilerHook: incorrect schedule: RECORD followed by a non-recording "
        "step");
    stop_recording(runner);
    return;
  }
  if (!was_recording && will_record) start_recording();
}

void ProfilerHook::open_step_range() {
  if (!recording_) return;
  native_->step_range = std::make_unique<at::RecordFunction>(at::RecordScope::USER_SCOPE);
  if (native_->step_range->isActive())
    native_->step_range->before("ProfilerStep#" + std::to_string(step_num_));
}

void ProfilerHook::before_run(Runner& runner) {
  if (runner.train_loop_built()) {
    const int64_t max_times = options_.by_epoch ? runner.max_epochs() : runner.max_iters();
    MMHOOK_CHECK(options_.profile_times <= max_times, "ProfilerHook.profile_times (",
                 options_.profile_times, ") should not exceed the number of ",
                 options_.by_epoch ? "epochs" : "iterations", " (", max_times, ")");
  }
  log_dir_ = runner.log_dir();
  trace_path_ = options_.json_trace_path.empty()
                    ? (fs::path(log_dir_) / "profiler_trace.json").string()
                    : options_.json_trace_path;
  const nlohmann::json& otr = options_.on_trace_ready;
  if (otr.is_object() && otr.value("type", "") == "tb_trace") {
    fs::path dir = otr.contains("dir_name") ? fs::path(otr.at("dir_name").get<std::string>())
                                            : fs::path("tf_tracing_logs");
    if (dir.is_relative()) dir = fs::path(log_dir_) / dir;
    tb_dir_ = dir.string();
    fs::create_directories(tb_dir_);
  }
  (void)activities_of(options_, &runner);  // warns once about CUDA
  closed_ = false;
  step_num_ = 0;
  action_ = schedule_ ? schedule_->action(0) : Action::kRecord;
  transit(runner, Action::kNone, action_);
  started_ = true;
  open_step_range();
  runner.logger().info("profiler is profiling...");
}

void ProfilerHook::step(Runner& runner) {
  native_->step_range.reset();
  const Action prev = action_;
  step_num_ += 1;
  action_ = schedule_ ? schedule_->action(step_num_) : Action::kRecord;
  transit(runner, prev, action_);
  open_step_range();
}

void ProfilerHook::after_train_iter(Runner& runner, int64_t, const TensorDict&, const TensorDict&) {
  if (!started_ || closed_) return;
  step(runner);
  if (!options_.by_epoch && runner.iter() == options_.profile_times - 1) export_trace(runner);
}

void ProfilerHook::after_train_epoch(Runner& runner) {
  if (started_ && !closed_) export_trace(runner);
}

void ProfilerHook::after_run(Runner& runner) {
  if (started_ && !closed_) export_trace(runner);
}

void ProfilerHook::export_trace(Runner& runner) {
  closed_ = true;
  runner.logger().info("profiler may take a few minutes...");
  native_->step_range.reset();
  const Action last = action_;
  action_ = Action::kNone;
  transit(runner, last, std::nullopt);
  exports_ += 1;
  if (!last_trace_) {
    runner.logger().warn("ProfilerHook: the schedule recorded nothing; no trace written to " +
                         trace_path_);
    return;
  }
  last_trace_->export_chrome_trace(trace_path_);
  runner.logger().info("ProfilerHook: Chrome trace written to " + trace_path_);
}

// -- registration -------------------------------------------------------------------------------

namespace {
nlohmann::json optional_json(const ConfigNode& cfg, const std::string& key) {
  if (!cfg.has(key)) {
    cfg.mark_used(key);
    return nullptr;
  }
  return cfg.require<nlohmann::json>(key);
}
}  // namespace

void detail::register_profiler_hook(Registry<Hook>& registry) {
  registry.add("ProfilerHook", [](const ConfigNode& cfg) {
    ProfilerHookOptions o;
    o.by_epoch = cfg.get<bool>("by_epoch", o.by_epoch);
    o.profile_times = cfg.get<int64_t>("profile_times", o.profile_times);
    o.activity_with_cpu = cfg.get<bool>("activity_with_cpu", o.activity_with_cpu);
    o.activity_with_cuda = cfg.get<bool>("activity_with_cuda", o.activity_with_cuda);
    o.schedule = optional_json(cfg, "schedule");
    o.on_trace_ready = optional_json(cfg, "on_trace_ready");
    o.record_shapes = cfg.get<bool>("record_shapes", o.record_shapes);
    o.profile_memory = cfg.get<bool>("profile_memory", o.profile_memory);
    o.with_stack = cfg.get<bool>("with_stack", o.with_stack);
    o.with_flops = cfg.get<bool>("with_flops", o.with_flops);
    if (cfg.has("json_trace_path") && cfg.require<nlohmann::json>("json_trace_path").is_null()) {
      cfg.mark_used("json_trace_path");
    } else {
      o.json_trace_path = cfg.get<std::string>("json_trace_path", o.json_trace_path);
    }
    return std::make_shared<ProfilerHook>(o);
  });
}

}  // namespace mmhook
