#pragma once
/// @file
/// `Dispatcher`: the one place hooks are ordered and called (docs/design.md §A2, §B2).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// The arguments of a stage call; which fields are set depends on the stage (docs/design.md §B1.1).
struct StageArgs {
  int64_t batch_idx = -1;                  ///< iteration stages
  const TensorDict* data_batch = nullptr;  ///< iteration stages
  const TensorDict* outputs = nullptr;     ///< after_*_iter
  const Metrics* metrics = nullptr;        ///< after_val_epoch / after_test_epoch
  Checkpoint* checkpoint = nullptr;        ///< before_save / after_load_checkpoint
  const std::string* message = nullptr;    ///< on_exception
};

/// The arguments of a stage's hook method taken from `StageArgs`, by the signature named in
/// `MMHOOK_STAGES` (`r` the Runner, `a` the StageArgs).
#define MMHOOK_STAGE_CALL_ARGS_RUN(r, a) (r)
#define MMHOOK_STAGE_CALL_ARGS_CKPT(r, a) (r, *(a).checkpoint)
#define MMHOOK_STAGE_CALL_ARGS_EXC(r, a) (r, *(a).message)
#define MMHOOK_STAGE_CALL_ARGS_METRICS(r, a) (r, *(a).metrics)
#define MMHOOK_STAGE_CALL_ARGS_BITER(r, a) (r, (a).batch_idx, *(a).data_batch)
#define MMHOOK_STAGE_CALL_ARGS_AITER(r, a) (r, (a).batch_idx, *(a).data_batch, *(a).outputs)

/// Calls `hook`'s method for `stage` with the arguments in `args` (those the stage's signature
/// needs must be set).
void call_stage(Hook& hook, Stage stage, Runner& runner, const StageArgs& args);

/// Timing of one (hook, stage) pair.
struct HookTiming {
  std::string hook;          ///< hook name
  std::string stage;         ///< stage name
  uint64_t calls = 0;        ///< number of calls (always exact)
  double total_ms = 0;       ///< total time (measured, or extrapolated from the timed calls)
  double max_ms = 0;         ///< longest timed call
  uint64_t timed_calls = 0;  ///< calls whose time was measured (== calls in mode "all")
};

/// How the dispatcher times hook calls. Calls are counted in every mode.
///  - kAll: every call is timed (two TSC reads per stage call plus one per hook, ~15 ns).
///  - kSampled (default): every call of the rare stages (run, epoch, checkpoint, ...) is timed;
///    of the per-iteration stages (before/after_{train,val,test}_iter) the first call and then
///    one in `sample_period`; `total_ms` is extrapolated from those. Costs ~0 ns per call.
///  - kOff: nothing is timed (timings report calls only).
enum class HookTimingMode { kOff, kSampled, kAll };

/// "off", "sampled" or "all" (invalid-argument Error naming `what` and the value otherwise).
HookTimingMode parse_hook_timing_mode(const std::string& value, const std::string& what);
/// "off", "sampled" or "all".
const char* hook_timing_mode_name(HookTimingMode mode);

/// An error raised by a hook, naming the hook and the stage.
class HookError : public Error {
 public:
  /// `message` is the full text ("hook 'X' (XHook) failed at after_train_iter: ...").
  HookError(Code code, const std::string& message, std::string hook, Stage stage)
      : Error(code, message), hook_(std::move(hook)), stage_(stage) {}
  /// Name of the hook that failed.
  const std::string& hook() const { return hook_; }
  /// Stage at which it failed.
  Stage stage() const { return stage_; }

 private:
  std::string hook_;
  Stage stage_;
};

/// Ordered hooks and, per stage, the hooks that handle it.
class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();

  /// Inserts `hook` with `priority` (0..100) after the last hook whose priority is <= it
  /// (MMEngine's stable rule), names it (unique), then applies `run_after`/`run_before`
  /// constraints; a constraint cycle is an Error and leaves the hooks unchanged.
  void add(std::shared_ptr<Hook> hook, int priority);
  /// Removes the hook named `name`; returns whether it existed.
  bool remove(const std::string& name);
  /// Hooks in call order.
  const std::vector<std::shared_ptr<Hook>>& hooks() const { return hooks_; }
  /// The hook named `name`, or nullptr.
  Hook* find(const std::string& name) const;

  /// Calls every hook that handles `stage`, in order (timing the calls as `timing_mode()` says).
  /// An exception escaping a hook becomes a `HookError` naming the hook and stage (an inner
  /// HookError passes through). Allocates nothing.
  void call(Stage stage, Runner& runner, const StageArgs& args);
  /// Calls every hook that handles `stage` even when some fail, for the stages that run while
  /// a failure is handled (on_exception, after_run): one hook's error must not keep the others
  /// from cleaning up. Returns the errors, each naming its hook and stage as `call` would; not
  /// timed.
  std::vector<std::string> call_each(Stage stage, Runner& runner, const StageArgs& args);

  /// Default of `sample_period` in `set_timing`.
  static constexpr uint64_t kDefaultSamplePeriod = 64;
  /// Sets how calls are timed (`sample_period` >= 1 applies to kSampled). The initial mode is
  /// kSampled, or what the environment variable `MMHOOK_HOOK_TIMING` says ("off", "sampled",
  /// "all"). Timings gathered so far are kept.
  void set_timing(HookTimingMode mode, uint64_t sample_period = kDefaultSamplePeriod);
  /// The current timing mode.
  HookTimingMode timing_mode() const { return mode_; }
  /// One timed call in this many per-iteration stage calls under kSampled.
  uint64_t sample_period() const { return sample_period_; }

  /// MMEngine's `get_hooks_info()` text.
  std::string hooks_info() const;
  /// Timings of every (hook, stage) pair called at least once, costliest total first.
  std::vector<HookTiming> timings() const;
  /// Clears the timings.
  void reset_timings();

 private:
  // calls: settled calls; a hook's count is calls + its stage's pending (stage calls since the
  // last rebuild), so an untimed stage call touches no per-hook memory.
  struct Stat {
    uint64_t calls = 0;
    uint64_t timed = 0;
    uint64_t total = 0;
    uint64_t max = 0;
  };
  struct Entry {
    Hook* hook;
    Stat* stat;
  };
  struct StageState {
    std::vector<Entry> entries;  // hooks handling the stage, in call order
    uint64_t countdown = 1;      // the call that brings it to 0 is timed
    uint64_t period = 1;         // countdown reload
    uint64_t pending = 0;        // stage calls since the last rebuild
  };
  void rebuild();
  void settle();  // folds every stage's pending calls into its hooks' counts
  [[noreturn]] void rethrow(Hook* hook, Stage stage);

  std::vector<std::shared_ptr<Hook>> hooks_;
  std::vector<std::unique_ptr<std::array<Stat, kNumStages>>> stats_;  // parallel to hooks_
  std::array<StageState, kNumStages> stages_;
  HookTimingMode mode_ = HookTimingMode::kSampled;
  uint64_t sample_period_ = kDefaultSamplePeriod;
  uint64_t tick0_ = 0;
  int64_t ns0_ = 0;
};

}  // namespace mmhook
