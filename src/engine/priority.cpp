#include "mmhook/engine/priority.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {
struct Level {
  const char* name;
  Priority value;
};
constexpr Level kLevels[] = {
    {"HIGHEST", Priority::kHighest}, {"VERY_HIGH", Priority::kVeryHigh},
    {"HIGH", Priority::kHigh},       {"ABOVE_NORMAL", Priority::kAboveNormal},
    {"NORMAL", Priority::kNormal},   {"BELOW_NORMAL", Priority::kBelowNormal},
    {"LOW", Priority::kLow},         {"VERY_LOW", Priority::kVeryLow},
    {"LOWEST", Priority::kLowest}};
}  // namespace

int get_priority(int priority) {
  MMHOOK_CHECK(is_valid_priority(priority), "priority must be between 0 and 100, got ", priority);
  return priority;
}

int get_priority(std::string_view name) {
  std::string upper(name);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& level : kLevels)
    if (upper == level.name) return get_priority(level.value);
  MMHOOK_THROW(Code::kInvalidArgument, "unknown priority name '", name,
               "' (expected HIGHEST, VERY_HIGH, HIGH, ABOVE_NORMAL, NORMAL, BELOW_NORMAL, LOW, "
               "VERY_LOW or LOWEST)");
}

int get_priority(const nlohmann::json& value) {
  if (value.is_number_integer()) return get_priority(value.get<int>());
  if (value.is_string()) return get_priority(std::string_view(value.get<std::string>()));
  MMHOOK_THROW(Code::kInvalidArgument, "priority must be an integer or a level name, got ",
               value.dump());
}

std::string priority_name(int priority) {
  for (const auto& level : kLevels)
    if (priority == get_priority(level.value)) return level.name;
  return std::to_string(priority);
}

}  // namespace mmhook
