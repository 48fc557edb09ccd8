#include "mmhook/hooks/profiler_trace.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hooks/profiler_native.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace fs = std::filesystem;

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

bool try_native_save(const std::shared_ptr<void>& native, const std::string& path) {
  if (!native) return false;
  auto* r = static_cast<detail::NativeProfilerResult*>(native.get());
  if (!r->result) return false;
  try {
    r->result->save(path);
    return fs::exists(path);
  } catch (const c10::Error&) {
    return false;  // not a Kineto build: write our own trace
  }
}

}  // namespace

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

}  // namespace mmhook
