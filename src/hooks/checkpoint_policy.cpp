#include "mmhook/hooks/checkpoint_policy.h"

#include <cctype>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::vector<int64_t> retention_after_save(std::deque<int64_t>& kept, int64_t step,
                                          int64_t max_keep) {
  std::vector<int64_t> drop;
  if (max_keep <= 0) return drop;
  if (!kept.empty() && kept.back() == step) return drop;
  while (static_cast<int64_t>(kept.size()) >= max_keep) {
    drop.push_back(kept.front());
    kept.pop_front();
  }
  kept.push_back(step);
  return drop;
}

std::string infer_rule(const std::string& key, const std::vector<std::string>& greater_keys,
                       const std::vector<std::string>& less_keys) {
  const std::string k = lower(key);
  for (const auto& g : greater_keys)
    if (k == lower(g)) return "greater";
  for (const auto& l : less_keys)
    if (k == lower(l)) return "less";
  for (const auto& g : greater_keys)
    if (k.find(lower(g)) != std::string::npos) return "greater";
  for (const auto& l : less_keys)
    if (k.find(lower(l)) != std::string::npos) return "less";
  MMHOOK_THROW(Code::kInvalidArgument, "Cannot infer the rule for key '", key,
               "', thus a specific rule must be specified.");
}

bool is_better(const std::string& rule, double value, double best) {
  return rule == "greater" ? value > best : value < best;
}

}  // namespace mmhook
