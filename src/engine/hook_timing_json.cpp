#include "mmhook/engine/hook_timing_json.h"

namespace mmhook {

nlohmann::ordered_json hook_timing_to_json(const HookTiming& t) {
  return {{"hook", t.hook},         {"stage", t.stage},   {"calls", t.calls},
          {"total_ms", t.total_ms}, {"max_ms", t.max_ms}, {"timed_calls", t.timed_calls}};
}

}  // namespace mmhook
