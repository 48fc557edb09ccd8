#include "mmhook/engine/stage.h"

namespace mmhook {
namespace {
constexpr std::string_view kStageNames[kNumStages] = {
#define MMHOOK_STAGE_NAME(e, method, c_name, signature) #method,
    MMHOOK_STAGES(MMHOOK_STAGE_NAME)
#undef MMHOOK_STAGE_NAME
};
}  // namespace

std::string_view stage_name(Stage stage) noexcept {
  const int i = static_cast<int>(stage);
  return (i >= 0 && i < kNumStages) ? kStageNames[i] : std::string_view();
}

bool stage_from_name(std::string_view name, Stage* out) noexcept {
  for (int i = 0; i < kNumStages; ++i) {
    if (kStageNames[i] == name) {
      *out = static_cast<Stage>(i);
      return true;
    }
  }
  return false;
}

std::string_view mode_name(Mode mode) noexcept {
  switch (mode) {
    case Mode::kTrain: return "train";
    case Mode::kVal: return "val";
    case Mode::kTest: return "test";
  }
  return "";
}

}  // namespace mmhook
