#pragma once
/// @file
/// `ProfilerTrace`: the events of one ProfilerHook recording cycle, what `on_trace_ready`
/// receives (torch's `prof`), with torch's `key_averages()`, its text table and a Chrome trace
/// export.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmhook {

/// One profiled operator call (a RecordFunction range on the profiling thread).
struct ProfilerEvent {
  std::string name;                          ///< operator name ("aten::mm")
  int64_t start_us = 0;                      ///< start, microseconds since the epoch
  int64_t duration_us = 0;                   ///< wall time including children
  int64_t self_us = 0;                       ///< duration minus nested calls on the same thread
  uint64_t thread = 0;                       ///< profiler thread id
  std::vector<std::vector<int64_t>> shapes;  ///< input shapes (with record_shapes)
  uint64_t flops = 0;                        ///< estimated FLOPs (with with_flops)
};

/// Per-operator totals, as torch's `key_averages()` rows.
struct ProfilerOpAverage {
  std::string name;                    ///< operator name
  int64_t count = 0;                   ///< number of calls
  int64_t cpu_time_total_us = 0;       ///< sum of durations
  int64_t self_cpu_time_total_us = 0;  ///< sum of self times
  uint64_t flops = 0;                  ///< sum of FLOPs
};

/// The result of one recording cycle: what `on_trace_ready` receives (torch's `prof`).
class ProfilerTrace {
 public:
  /// Wraps events (sorted by start; self times computed from the nesting on each thread).
  explicit ProfilerTrace(std::vector<ProfilerEvent> events);
  /// The events, ordered by start time.
  const std::vector<ProfilerEvent>& events() const { return events_; }
  /// Per-operator totals sorted by `sort_by` (descending): "cpu_time_total",
  /// "self_cpu_time_total", "cpu_time" (mean), "self_cpu_time" (mean), "count", "flops".
  std::vector<ProfilerOpAverage> key_averages(const std::string& sort_by = "cpu_time_total") const;
  /// A text table of the first `row_limit` rows of `key_averages(sort_by)` (all if < 0).
  std::string table(const std::string& sort_by = "cpu_time_total", int64_t row_limit = 100) const;
  /// Writes a Chrome trace (`{"traceEvents": [...]}`) to `path`; creates parent directories.
  void export_chrome_trace(const std::string& path) const;

 private:
  friend class ProfilerHook;
  std::vector<ProfilerEvent> events_;
  std::shared_ptr<void> native_;  // LibTorch's result: Kineto builds save their own trace
};

}  // namespace mmhook
