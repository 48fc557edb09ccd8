// The Runner's hooks from the config: MMEngine's `Runner.register_hooks` (default hooks, then
// custom hooks) and `register_hook`'s config form.

#include <nlohmann/json.hpp>

#include "engine/runner_builders.h"
#include "mmhook/core/error.h"
#include "mmhook/engine/priority.h"
#include "mmhook/engine/runner.h"

namespace mmhook {
namespace {

// docs/design.md §A2: "after"/"before" name hooks this one must run after/before (a name or a
// list).
std::vector<std::string> hook_names(const ConfigNode& cfg, const char* key) {
  if (!cfg.has(key)) {
    cfg.mark_used(key);
    return {};
  }
  const nlohmann::json v = cfg.require<nlohmann::json>(key);
  if (v.is_string()) return {v.get<std::string>()};
  return cfg.require<std::vector<std::string>>(key);
}

}  // namespace

BuiltHook build_hook(const ConfigValue& entry, std::optional<int> priority) {
  if (!entry.value.is_object())
    MMHOOK_THROW(Code::kConfig, entry.path, ": hook should be an instance of Hook or dict, got ",
                 json_type_name(entry.value));
  const ConfigNode cfg(entry.value, entry.path);
  std::optional<int> cfg_priority;
  if (cfg.has("priority")) {
    try {
      cfg_priority = get_priority(cfg.json().at("priority"));
    } catch (const Error& e) {
      cfg.fail("priority", e.what());
    }
  }
  cfg.mark_used("priority");
  const std::vector<std::string> after = hook_names(cfg, "after");
  const std::vector<std::string> before = hook_names(cfg, "before");
  BuiltHook out;
  out.hook = hook_registry().build(cfg);
  out.hook->run_after.insert(out.hook->run_after.end(), after.begin(), after.end());
  out.hook->run_before.insert(out.hook->run_before.end(), before.begin(), before.end());
  out.priority = priority       ? get_priority(*priority)
                 : cfg_priority ? *cfg_priority
                                : out.hook->default_priority();
  return out;
}

void register_hooks(Runner& runner, const std::vector<ConfigValue>& hooks) {
  for (const ConfigValue& cfg : hooks) {
    BuiltHook built = build_hook(cfg, std::nullopt);
    runner.register_hook(std::move(built.hook), built.priority);
  }
  // Ordering constraints must name registered hooks.
  for (const auto& h : runner.hooks()) {
    for (const auto* list : {&h->run_after, &h->run_before}) {
      for (const auto& other : *list) {
        if (runner.find_hook(other) != nullptr) continue;
        std::vector<std::string> known;
        for (const auto& k : runner.hooks()) known.push_back(k->name());
        const std::string hint = did_you_mean(other, known);
        MMHOOK_THROW(Code::kConfig, "hook '", h->name(),
                     "': ", list == &h->run_after ? "after" : "before", " names unknown hook '",
                     other, "'", hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
      }
    }
  }
}

}  // namespace mmhook
