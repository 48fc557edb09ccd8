#pragma once
/// @file
/// `Dispatcher`: the one place hooks are ordered and called (SPEC A2, B §2).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// The arguments of a stage call; which fields are set depends on the stage (B §1.1).
struct StageArgs {
  int64_t batch_idx = -1;                  ///< iteration stages
  const TensorDict* data_batch = nullptr;  ///< iteration stages
  const TensorDict* outputs = nullptr;     ///< after_*_iter
  const Metrics* metrics = nullptr;        ///< after_val_epoch / after_test_epoch
  Checkpoint* checkpoint = nullptr;        ///< before_save / after_load_checkpoint
  const std::string* message = nullptr;    ///< on_exception
};

/// Timing of one (hook, stage) pair.
struct HookTiming {
  std::string hook;       ///< hook name
  std::string stage;      ///< stage name
  uint64_t calls = 0;     ///< number of calls
  double total_ms = 0;    ///< total time
  double max_ms = 0;      ///< longest call
};

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

  /// Calls every hook that handles `stage`, in order, timing each call. An exception escaping a
  /// hook becomes a `HookError` naming the hook and stage (an inner HookError passes through).
  void call(Stage stage, Runner& runner, const StageArgs& args);

  /// MMEngine's `get_hooks_info()` text.
  std::string hooks_info() const;
  /// Timings of every (hook, stage) pair called at least once, costliest total first.
  std::vector<HookTiming> timings() const;
  /// Clears the timings.
  void reset_timings();

 private:
  struct Stat {
    uint64_t calls = 0;
    uint64_t total = 0;
    uint64_t max = 0;
  };
  struct Entry {
    Hook* hook;
    Stat* stat;
  };
  void rebuild();
  [[noreturn]] void rethrow(Hook* hook, Stage stage);

  std::vector<std::shared_ptr<Hook>> hooks_;
  std::vector<std::unique_ptr<std::array<Stat, kNumStages>>> stats_;  // parallel to hooks_
  std::array<std::vector<Entry>, kNumStages> per_stage_;
  uint64_t tick0_ = 0;
  int64_t ns0_ = 0;
};

}  // namespace mmhook
