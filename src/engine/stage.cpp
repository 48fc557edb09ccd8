#include "mmhook/engine/stage.h"

namespace mmhook {
namespace {
constexpr std::string_view kStageNames[kNumStages] = {"before_run",        "after_load_checkpoint",
                                                      "before_train",      "before_train_epoch",
                                                      "before_train_iter", "after_train_iter",
                                                      "after_train_epoch", "before_val",
                                                      "before_val_epoch",  "before_val_iter",
                                                      "after_val_iter",    "after_val_epoch",
                                                      "after_val",         "before_save_checkpoint",
                                                      "after_train",       "before_test",
                                                      "before_test_epoch", "before_test_iter",
                                                      "after_test_iter",   "after_test_epoch",
                                                      "after_test",        "after_run",
                                                      "on_exception"};
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
