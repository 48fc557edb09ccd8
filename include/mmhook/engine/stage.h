#pragma once
/// @file
/// The 23 hook stages (MMEngine's 22 in `Hook.stages` order, then `on_exception`) and the three
/// loop modes.

#include <cstdint>
#include <string_view>

namespace mmhook {

/// A hook mount point. Values equal the C ABI's `MMH_STAGE_*` constants.
enum class Stage : int32_t {
  kBeforeRun = 0,
  kAfterLoadCheckpoint,
  kBeforeTrain,
  kBeforeTrainEpoch,
  kBeforeTrainIter,
  kAfterTrainIter,
  kAfterTrainEpoch,
  kBeforeVal,
  kBeforeValEpoch,
  kBeforeValIter,
  kAfterValIter,
  kAfterValEpoch,
  kAfterVal,
  kBeforeSaveCheckpoint,
  kAfterTrain,
  kBeforeTest,
  kBeforeTestEpoch,
  kBeforeTestIter,
  kAfterTestIter,
  kAfterTestEpoch,
  kAfterTest,
  kAfterRun,
  kOnException,
};

/// Number of stages (23).
constexpr int kNumStages = 23;

/// A set of stages, one bit per `Stage` value.
using StageMask = uint64_t;

/// The bit of one stage.
constexpr StageMask stage_bit(Stage s) { return StageMask{1} << static_cast<int>(s); }

/// Every stage.
constexpr StageMask kAllStages = (StageMask{1} << kNumStages) - 1;

/// MMEngine's name of a stage ("before_train_iter"); "" when out of range.
std::string_view stage_name(Stage stage) noexcept;

/// Stage from its name; false when the name is unknown.
bool stage_from_name(std::string_view name, Stage* out) noexcept;

/// Which loop is running.
enum class Mode : int32_t { kTrain = 0, kVal = 1, kTest = 2 };

/// "train", "val" or "test".
std::string_view mode_name(Mode mode) noexcept;

}  // namespace mmhook
