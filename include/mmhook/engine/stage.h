#pragma once
/// @file
/// The 23 hook stages (MMEngine's 22 in `Hook.stages` order, then `on_exception`) and the three
/// loop modes.

#include <cstdint>
#include <string_view>

namespace mmhook {

/// The stages, written once: `X(enumerator, method, C name, signature)` in `Stage` order (the C
/// ABI's `MMH_STAGE_<C name>` values). Everything that lists the stages expands this: the enum,
/// their names, `HookImpl`'s stage set, the Dispatcher's calls, `StageHook`'s forwarding and the
/// C enum's checks. The signature names the hook method's arguments after the Runner:
/// RUN (none), CKPT (Checkpoint&), EXC (const std::string& message), METRICS (const Metrics&),
/// BITER (int64_t batch_idx, const TensorDict& data_batch), AITER (BITER's, then
/// const TensorDict& outputs).
#define MMHOOK_STAGES(X)                                                         \
  X(kBeforeRun, before_run, BEFORE_RUN, RUN)                                     \
  X(kAfterLoadCheckpoint, after_load_checkpoint, AFTER_LOAD_CHECKPOINT, CKPT)    \
  X(kBeforeTrain, before_train, BEFORE_TRAIN, RUN)                               \
  X(kBeforeTrainEpoch, before_train_epoch, BEFORE_TRAIN_EPOCH, RUN)              \
  X(kBeforeTrainIter, before_train_iter, BEFORE_TRAIN_ITER, BITER)               \
  X(kAfterTrainIter, after_train_iter, AFTER_TRAIN_ITER, AITER)                  \
  X(kAfterTrainEpoch, after_train_epoch, AFTER_TRAIN_EPOCH, RUN)                 \
  X(kBeforeVal, before_val, BEFORE_VAL, RUN)                                     \
  X(kBeforeValEpoch, before_val_epoch, BEFORE_VAL_EPOCH, RUN)                    \
  X(kBeforeValIter, before_val_iter, BEFORE_VAL_ITER, BITER)                     \
  X(kAfterValIter, after_val_iter, AFTER_VAL_ITER, AITER)                        \
  X(kAfterValEpoch, after_val_epoch, AFTER_VAL_EPOCH, METRICS)                   \
  X(kAfterVal, after_val, AFTER_VAL, RUN)                                        \
  X(kBeforeSaveCheckpoint, before_save_checkpoint, BEFORE_SAVE_CHECKPOINT, CKPT) \
  X(kAfterTrain, after_train, AFTER_TRAIN, RUN)                                  \
  X(kBeforeTest, before_test, BEFORE_TEST, RUN)                                  \
  X(kBeforeTestEpoch, before_test_epoch, BEFORE_TEST_EPOCH, RUN)                 \
  X(kBeforeTestIter, before_test_iter, BEFORE_TEST_ITER, BITER)                  \
  X(kAfterTestIter, after_test_iter, AFTER_TEST_ITER, AITER)                     \
  X(kAfterTestEpoch, after_test_epoch, AFTER_TEST_EPOCH, METRICS)                \
  X(kAfterTest, after_test, AFTER_TEST, RUN)                                     \
  X(kAfterRun, after_run, AFTER_RUN, RUN)                                        \
  X(kOnException, on_exception, ON_EXCEPTION, EXC)

/// A hook mount point. Values equal the C ABI's `MMH_STAGE_*` constants.
enum class Stage : int32_t {
#define MMHOOK_STAGE_ENUMERATOR(e, method, c_name, signature) e,
  MMHOOK_STAGES(MMHOOK_STAGE_ENUMERATOR)
#undef MMHOOK_STAGE_ENUMERATOR
};

/// Number of stages (23).
constexpr int kNumStages = 0
#define MMHOOK_STAGE_ONE(e, method, c_name, signature) +1  // NOLINT(bugprone-macro-parentheses)
    MMHOOK_STAGES(MMHOOK_STAGE_ONE)
#undef MMHOOK_STAGE_ONE
    ;
static_assert(kNumStages == 23, "MMEngine's 22 stages and on_exception");

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
