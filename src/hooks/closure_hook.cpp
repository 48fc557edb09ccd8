#include "mmhook/hooks/closure_hook.h"

namespace mmhook {

ClosureHook::ClosureHook(Stage stage, Fn fn) : stage_(stage), fn_(std::move(fn)) {
  MMHOOK_CHECK(static_cast<int>(stage) >= 0 && static_cast<int>(stage) < kNumStages,
               "ClosureHook: invalid stage ", static_cast<int>(stage));
  MMHOOK_CHECK(static_cast<bool>(fn_), "ClosureHook: the function for stage ", stage_name(stage),
               " is empty");
}

void ClosureHook::on_stage(Stage stage, Runner& r, const StageArgs& args) {
  if (stage == stage_) fn_(r, args);
}

}  // namespace mmhook
