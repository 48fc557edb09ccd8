#pragma once
/// @file
/// MMEngine's hook priorities (`mmengine/runner/priority.py`): lower runs earlier.

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace mmhook {

/// Named priority levels.
enum class Priority : int {
  kHighest = 0,
  kVeryHigh = 10,
  kHigh = 30,
  kAboveNormal = 40,
  kNormal = 50,
  kBelowNormal = 60,
  kLow = 70,
  kVeryLow = 90,
  kLowest = 100,
};

/// An integer priority in [0, 100], returned as is; outside that range an invalid-argument Error
/// "priority must be between 0 and 100".
int get_priority(int priority);
/// A level's value. Code names levels (`get_priority(Priority::kLow)`); numbers belong in configs.
constexpr int get_priority(Priority priority) noexcept { return static_cast<int>(priority); }
/// Whether an integer priority lies in [`Priority::kHighest`, `Priority::kLowest`].
constexpr bool is_valid_priority(int priority) noexcept {
  return priority >= get_priority(Priority::kHighest) &&
         priority <= get_priority(Priority::kLowest);
}
/// A level by name, case-insensitive ("Lowest" works); an unknown name is an Error.
int get_priority(std::string_view name);
/// A priority from JSON: an integer or a level name; any other type is an Error.
int get_priority(const nlohmann::json& value);

/// The level name of an integer priority ("VERY_HIGH"), or the number as text when it is not
/// one of the levels (as `get_hooks_info()` prints it).
std::string priority_name(int priority);

}  // namespace mmhook
