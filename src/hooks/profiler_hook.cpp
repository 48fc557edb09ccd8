#include "mmhook/hooks/profiler_hook.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/cuda.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/engine/runner.h"

namespace mmhook {
namespace fs = std::filesystem;
namespace tprof = torch::autograd::profiler;
namespace timpl = torch::profiler::impl;

namespace {

// torch.autograd.profiler_util._format_time.
std::string format_time(double us) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3);
  if (us >= 1e6)
    os << us / 1e6 << "s";
  else if (us >= 1e3)
    os << us / 1e3 << "ms";
  else
    os << us << "us";
  return os.str();
}

std::string format_percent(double part, double total) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << (total > 0 ? 100.0 * part / total : 0.0) << "%";
  return os.str();
}

std::string dump_value(const nlohmann::json& v) { return v.dump(); }

// State shared between ProfilerHook and ProfilerTrace: the native result of a cycle (Kineto
// builds can save their own, richer trace) and the open "ProfilerStep#N" range.
struct NativeResult {
  std::unique_ptr<tprof::ProfilerResult> result;
};

bool try_native_save(const std::shared_ptr<void>& native, const std::string& path) {
  if (!native) return false;
  auto* r = static_cast<NativeResult*>(native.get());
  if (!r->result) return false;
  try {
    r->result->save(path);
    return fs::exists(path);
  } catch (const c10::Error&) {
    return false;  // not a Kineto build: write our own trace
  }
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

// -- ProfilerTrace ------------------------------------------------------------------------------

ProfilerTrace::ProfilerTrace(std::vector<ProfilerEvent> events) : events_(std::move(events)) {
  std::stable_sort(
      events_.begin(), events_.end(), [](const ProfilerEvent& a, const ProfilerEvent& b) {
        if (a.start_us != b.start_us) return a.start_us < b.start_us;
        return a.duration_us > b.duration_us;  // parents before children that start with them
      });
  // Self time: subtract the durations of directly nested events on the same thread.
  std::map<uint64_t, std::vector<size_t>> stacks;
  for (size_t i = 0; i < events_.size(); ++i) {
    ProfilerEvent& e = events_[i];
    e.self_us = e.duration_us;
    auto& stack = stacks[e.thread];
    while (!stack.empty()) {
      const ProfilerEvent& top = events_[stack.back()];
      if (e.start_us >= top.start_us + top.duration_us) {
        stack.pop_back();
      } else {
        break;
      }
    }
    if (!stack.empty()) events_[stack.back()].self_us -= e.duration_us;
    stack.push_back(i);
  }
  for (ProfilerEvent& e : events_) e.self_us = std::max<int64_t>(e.self_us, 0);
}

std::vector<ProfilerOpAverage> ProfilerTrace::key_averages(const std::string& sort_by) const {
  std::vector<ProfilerOpAverage> rows;
  std::map<std::string, size_t> index;
  for (const ProfilerEvent& e : events_) {
    auto it = index.find(e.name);
    if (it == index.end()) {
      it = index.emplace(e.name, rows.size()).first;
      rows.push_back(ProfilerOpAverage{e.name});
    }
    ProfilerOpAverage& r = rows[it->second];
    r.count += 1;
    r.cpu_time_total_us += e.duration_us;
    r.self_cpu_time_total_us += e.self_us;
    r.flops += e.flops;
  }
  std::function<double(const ProfilerOpAverage&)> key;
  if (sort_by == "cpu_time_total") {
    key = [](const ProfilerOpAverage& r) { return static_cast<double>(r.cpu_time_total_us); };
  } else if (sort_by == "self_cpu_time_total") {
    key = [](const ProfilerOpAverage& r) { return static_cast<double>(r.self_cpu_time_total_us); };
  } else if (sort_by == "cpu_time") {
    key = [](const ProfilerOpAverage& r) {
      return static_cast<double>(r.cpu_time_total_us) / static_cast<double>(r.count);
    };
  } else if (sort_by == "self_cpu_time") {
    key = [](const ProfilerOpAverage& r) {
      return static_cast<double>(r.self_cpu_time_total_us) / static_cast<double>(r.count);
    };
  } else if (sort_by == "count") {
    key = [](const ProfilerOpAverage& r) { return static_cast<double>(r.count); };
  } else if (sort_by == "flops") {
    key = [](const ProfilerOpAverage& r) { return static_cast<double>(r.flops); };
  } else {
    MMHOOK_THROW(Code::kInvalidArgument, "ProfilerHook: unknown sort_by '", sort_by,
                 "' (expected cpu_time_total, self_cpu_time_total, cpu_time, self_cpu_time, "
                 "count or flops)");
  }
  std::stable_sort(
      rows.begin(), rows.end(),
      [&key](const ProfilerOpAverage& a, const ProfilerOpAverage& b) { return key(a) > key(b); });
  return rows;
}

std::string ProfilerTrace::table(const std::string& sort_by, int64_t row_limit) const {
  std::vector<ProfilerOpAverage> rows = key_averages(sort_by);
  double self_total = 0;
  for (const ProfilerOpAverage& r : rows)
    self_total += static_cast<double>(r.self_cpu_time_total_us);
  if (row_limit >= 0 && static_cast<int64_t>(rows.size()) > row_limit) rows.resize(row_limit);

  const std::vector<std::string> headers = {"Name",      "Self CPU %",   "Self CPU",  "CPU total %",
                                            "CPU total", "CPU time avg", "# of Calls"};
  std::vector<std::vector<std::string>> cells;
  for (const ProfilerOpAverage& r : rows) {
    const double total = static_cast<double>(r.cpu_time_total_us);
    const double self = static_cast<double>(r.self_cpu_time_total_us);
    cells.push_back({r.name, format_percent(self, self_total), format_time(self),
                     format_percent(total, self_total), format_time(total),
                     format_time(total / static_cast<double>(r.count)), std::to_string(r.count)});
  }
  std::vector<size_t> width(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    width[c] = headers[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  std::ostringstream os;
  auto rule = [&] {
    for (size_t c = 0; c < width.size(); ++c) os << (c ? "  " : "") << std::string(width[c], '-');
    os << "\n";
  };
  auto line = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      os << (c ? "  " : "");
      if (c == 0)
        os << std::left << std::setw(static_cast<int>(width[c])) << row[c];
      else
        os << std::right << std::setw(static_cast<int>(width[c])) << row[c];
    }
    os << "\n";
  };
  rule();
  line(headers);
  rule();
  for (const auto& row : cells) line(row);
  rule();
  os << "Self CPU time total: " << format_time(self_total) << "\n";
  return os.str();
}

void ProfilerTrace::export_chrome_trace(const std::string& path) const {
  const fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  if (try_native_save(native_, path)) return;
  nlohmann::json trace_events = nlohmann::json::array();
  const int64_t pid = static_cast<int64_t>(getpid());
  for (const ProfilerEvent& e : events_) {
    nlohmann::json ev = {{"ph", "X"},       {"cat", "cpu_op"},  {"name", e.name},      {"pid", pid},
                         {"tid", e.thread}, {"ts", e.start_us}, {"dur", e.duration_us}};
    nlohmann::json args = nlohmann::json::object();
    if (!e.shapes.empty()) args["Input Dims"] = e.shapes;
    if (e.flops > 0) args["flops"] = e.flops;
    ev["args"] = std::move(args);
    trace_events.push_back(std::move(ev));
  }
  nlohmann::json doc = {
      {"schemaVersion", 1}, {"displayTimeUnit", "ms"}, {"traceEvents", std::move(trace_events)}};
  std::ofstream out(path);
  MMHOOK_CHECK_CODE(out.good(), Code::kIo, "ProfilerHook: cannot write the trace '", path, "'");
  out << doc.dump();
  MMHOOK_CHECK_CODE(out.good(), Code::kIo, "ProfilerHook: failed writing the trace '", path, "'");
}

// -- ProfilerSchedule ---------------------------------------------------------------------------

ProfilerSchedule::Action ProfilerSchedule::action(int64_t step) const {
  if (step < skip_first) return Action::kNone;
  step -= skip_first;
  const int64_t num_steps = wait + warmup + active;
  if (repeat > 0 && step / num_steps >= repeat) return Action::kNone;
  const int64_t mod_step = step % num_steps;
  if (mod_step < wait) return Action::kNone;
  if (mod_step < wait + warmup) return Action::kWarmup;
  return mod_step < num_steps - 1 ? Action::kRecord : Action::kRecordAndSave;
}

ProfilerSchedule ProfilerSchedule::from_json(const nlohmann::json& kwargs) {
  MMHOOK_CHECK(kwargs.is_object(),
               "ProfilerHook.schedule must be a dict of torch.profiler."
               "schedule arguments, got ",
               dump_value(kwargs));
  for (const auto& kv : kwargs.items()) {
    const std::string& k = kv.key();
    MMHOOK_CHECK(
        k == "wait" || k == "warmup" || k == "active" || k == "repeat" || k == "skip_first",
        "ProfilerHook.schedule got an unexpected keyword argument '", k, "' in ",
        dump_value(kwargs));
    MMHOOK_CHECK(kv.value().is_number_integer(), "ProfilerHook.schedule.", k,
                 " must be an integer, got ", dump_value(kv.value()));
  }
  for (const char* required : {"wait", "warmup", "active"})
    MMHOOK_CHECK(kwargs.contains(required),
                 "ProfilerHook.schedule is missing the required "
                 "argument '",
                 required, "' (got ", dump_value(kwargs), ")");
  ProfilerSchedule s;
  s.wait = kwargs.at("wait").get<int64_t>();
  s.warmup = kwargs.at("warmup").get<int64_t>();
  s.active = kwargs.at("active").get<int64_t>();
  s.repeat = kwargs.value("repeat", int64_t{0});
  s.skip_first = kwargs.value("skip_first", int64_t{0});
  MMHOOK_CHECK(s.wait >= 0 && s.warmup >= 0 && s.active > 0 && s.repeat >= 0 && s.skip_first >= 0,
               "ProfilerHook.schedule needs wait, warmup, repeat, skip_first >= 0 and active > 0, "
               "got ",
               dump_value(kwargs));
  return s;
}

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
  auto native = std::make_shared<NativeResult>();
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
