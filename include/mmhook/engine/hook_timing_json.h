#pragma once
/// @file
/// The JSON form of the dispatcher's hook timings, shared by `hook_timing.json` (LoggerHook)
/// and the C API (`mmh_runner_hook_timing_json`), so both always have the same fields.

#include <nlohmann/json.hpp>

#include "mmhook/engine/dispatcher.h"

namespace mmhook {

/// One object per (hook, stage): {hook, stage, calls, total_ms, max_ms, timed_calls}.
nlohmann::ordered_json hook_timing_to_json(const HookTiming& t);

}  // namespace mmhook
