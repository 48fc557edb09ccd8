#pragma once
/// @file
/// `ProfilerSchedule`: `torch.profiler.schedule`'s step actions, re-implemented for ProfilerHook
/// (LibTorch's C++ API has no schedule).

#include <cstdint>

#include <nlohmann/json.hpp>

namespace mmhook {

/// `torch.profiler.schedule(wait, warmup, active, repeat, skip_first)`.
struct ProfilerSchedule {
  int64_t wait = 0;        ///< idle steps per cycle
  int64_t warmup = 0;      ///< warm-up steps per cycle
  int64_t active = 1;      ///< recorded steps per cycle (>= 1)
  int64_t repeat = 0;      ///< cycles (0: unlimited)
  int64_t skip_first = 0;  ///< steps skipped before the first cycle
  /// What torch's schedule returns at `step`.
  enum class Action { kNone, kWarmup, kRecord, kRecordAndSave };
  /// torch's `schedule_fn(step)`.
  Action action(int64_t step) const;
  /// Builds from a JSON object with MMEngine's keys; `wait`, `warmup`, `active` are required
  /// (Python raises TypeError for `dict()`); Errors name the key and value.
  static ProfilerSchedule from_json(const nlohmann::json& kwargs);
};

}  // namespace mmhook
