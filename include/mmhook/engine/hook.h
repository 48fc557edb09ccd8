#pragma once
/// @file
/// `Hook`: MMEngine's hook base class (`mmengine/hooks/hook.py`) plus mmhook's `on_exception`.
///
/// Contract: override the stage methods you need. Derive from `HookImpl<YourHook>` and the set
/// of stages your hook handles is computed at compile time from the methods you override
/// (MMEngine's `get_triggered_stages`): the dispatcher calls a hook only at those stages, so a
/// stage you do not handle costs nothing. Overriding a mode method (`before_epoch`,
/// `after_epoch`, `before_iter`, `after_iter`) handles that family for train, val and test.
/// Guaranteed: hooks run one at a time on the thread that called train/val/test, in priority
/// order; an exception escaping a hook ends the run with an Error naming hook and stage.

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "mmhook/core/metrics.h"
#include "mmhook/engine/priority.h"
#include "mmhook/engine/stage.h"

namespace mmhook {

class Runner;
class TensorDict;
class Checkpoint;

/// Base class of every hook.
class Hook {
 public:
  virtual ~Hook() = default;

  /// The class name shown by `get_hooks_info()` ("RuntimeInfoHook"). Defaults to the demangled
  /// C++ class name without namespaces.
  virtual std::string type_name() const;
  /// The stages this hook handles (see `HookImpl`). Defaults to every stage.
  virtual StageMask triggered_stages() const { return kAllStages; }
  /// The priority this hook gets when registered without an explicit one (MMEngine's class
  /// attribute `priority`, default NORMAL = 50).
  virtual int default_priority() const { return get_priority(Priority::kNormal); }

  // -- stages without mode dispatch
  /// Before anything runs (train, val or test).
  virtual void before_run(Runner& runner) {}
  /// After everything ran; also after a failure (mmhook differs from MMEngine here).
  virtual void after_run(Runner& runner) {}
  /// Before the train loop.
  virtual void before_train(Runner& runner) {}
  /// After the train loop.
  virtual void after_train(Runner& runner) {}
  /// Before a val loop.
  virtual void before_val(Runner& runner) {}
  /// After a val loop.
  virtual void after_val(Runner& runner) {}
  /// Before a test loop.
  virtual void before_test(Runner& runner) {}
  /// After a test loop.
  virtual void after_test(Runner& runner) {}
  /// A checkpoint was read, before the weights are applied; hooks may read or change entries.
  virtual void after_load_checkpoint(Runner& runner, Checkpoint& checkpoint) {}
  /// A checkpoint is about to be written; hooks may add or change entries.
  virtual void before_save_checkpoint(Runner& runner, Checkpoint& checkpoint) {}
  /// The run failed with `message`; `after_run` follows.
  virtual void on_exception(Runner& runner, const std::string& message) {}

  // -- epoch stages (default: forward to the mode methods)
  /// Before a train epoch.
  virtual void before_train_epoch(Runner& runner) { before_epoch(runner, Mode::kTrain); }
  /// Before a val epoch.
  virtual void before_val_epoch(Runner& runner) { before_epoch(runner, Mode::kVal); }
  /// Before a test epoch.
  virtual void before_test_epoch(Runner& runner) { before_epoch(runner, Mode::kTest); }
  /// After a train epoch.
  virtual void after_train_epoch(Runner& runner) { after_epoch(runner, Mode::kTrain); }
  /// After a val epoch, with the evaluator's metrics.
  virtual void after_val_epoch(Runner& runner, const Metrics& metrics) {
    after_epoch(runner, Mode::kVal);
  }
  /// After a test epoch, with the evaluator's metrics.
  virtual void after_test_epoch(Runner& runner, const Metrics& metrics) {
    after_epoch(runner, Mode::kTest);
  }

  // -- iteration stages (default: forward to the mode methods)
  /// Before a train iteration; `batch_idx` is the index in the pass (the global iter in
  /// iteration-based training).
  virtual void before_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch) {
    before_iter(runner, batch_idx, data_batch, Mode::kTrain);
  }
  /// Before a val iteration.
  virtual void before_val_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch) {
    before_iter(runner, batch_idx, data_batch, Mode::kVal);
  }
  /// Before a test iteration.
  virtual void before_test_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch) {
    before_iter(runner, batch_idx, data_batch, Mode::kTest);
  }
  /// After a train iteration; `outputs` are the parsed log variables ("loss" first).
  virtual void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                                const TensorDict& outputs) {
    after_iter(runner, batch_idx, data_batch, outputs, Mode::kTrain);
  }
  /// After a val iteration; `outputs` are the model's predictions.
  virtual void after_val_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                              const TensorDict& outputs) {
    after_iter(runner, batch_idx, data_batch, outputs, Mode::kVal);
  }
  /// After a test iteration; `outputs` are the model's predictions.
  virtual void after_test_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                               const TensorDict& outputs) {
    after_iter(runner, batch_idx, data_batch, outputs, Mode::kTest);
  }

  // -- mode methods (MMEngine's _before_epoch, _after_epoch, _before_iter, _after_iter)
  /// Before an epoch of any mode.
  virtual void before_epoch(Runner& runner, Mode mode) {}
  /// After an epoch of any mode.
  virtual void after_epoch(Runner& runner, Mode mode) {}
  /// Before an iteration of any mode.
  virtual void before_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                           Mode mode) {}
  /// After an iteration of any mode.
  virtual void after_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                          const TensorDict& outputs, Mode mode) {}

  // -- MMEngine's predicates
  /// `(epoch + 1 - start) >= 0 && % n == 0`; false for n <= 0.
  static bool every_n_epochs(const Runner& runner, int64_t n, int64_t start = 0);
  /// `(batch_idx + 1) % n == 0`; false for n <= 0.
  static bool every_n_inner_iters(int64_t batch_idx, int64_t n);
  /// `(iter + 1 - start) >= 0 && % n == 0`; false for n <= 0.
  static bool every_n_train_iters(const Runner& runner, int64_t n, int64_t start = 0);
  /// `batch_idx + 1 == dataloader_len`.
  static bool end_of_epoch(int64_t dataloader_len, int64_t batch_idx);
  /// `epoch + 1 == max_epochs`.
  static bool is_last_train_epoch(const Runner& runner);
  /// `iter + 1 == max_iters`.
  static bool is_last_train_iter(const Runner& runner);

  /// Unique name of this hook within its runner (names it in errors, timings and
  /// `hook_states`); set at registration, defaults to `type_name()` (suffixed on clashes).
  const std::string& name() const { return name_; }
  /// The priority the runner registered this hook with.
  int priority() const { return priority_; }
  /// Names of hooks this one must run after, within the priority order (docs/design.md §A2).
  std::vector<std::string> run_after;
  /// Names of hooks this one must run before, within the priority order (docs/design.md §A2).
  std::vector<std::string> run_before;

 private:
  friend class Dispatcher;
  std::string name_;
  int priority_ = get_priority(Priority::kNormal);
};

namespace detail {
/// A method is overridden when &D::m no longer has type `R (Hook::*)(...)`.
#define MMHOOK_OVERRIDES(D, m) (!std::is_same_v<decltype(&D::m), decltype(&Hook::m)>)

template <class D>
constexpr StageMask compute_stages() {
  StageMask m = 0;
  auto add = [&m](bool overridden, Stage s) {
    if (overridden) m |= stage_bit(s);
  };
#define MMHOOK_STAGE_IF_OVERRIDDEN(e, method, c_name, signature) \
  add(MMHOOK_OVERRIDES(D, method), Stage::e);
  MMHOOK_STAGES(MMHOOK_STAGE_IF_OVERRIDDEN)
#undef MMHOOK_STAGE_IF_OVERRIDDEN
  const bool be = MMHOOK_OVERRIDES(D, before_epoch), ae = MMHOOK_OVERRIDES(D, after_epoch);
  const bool bi = MMHOOK_OVERRIDES(D, before_iter), ai = MMHOOK_OVERRIDES(D, after_iter);
  add(be, Stage::kBeforeTrainEpoch);
  add(be, Stage::kBeforeValEpoch);
  add(be, Stage::kBeforeTestEpoch);
  add(ae, Stage::kAfterTrainEpoch);
  add(ae, Stage::kAfterValEpoch);
  add(ae, Stage::kAfterTestEpoch);
  add(bi, Stage::kBeforeTrainIter);
  add(bi, Stage::kBeforeValIter);
  add(bi, Stage::kBeforeTestIter);
  add(ai, Stage::kAfterTrainIter);
  add(ai, Stage::kAfterValIter);
  add(ai, Stage::kAfterTestIter);
  return m;
}
#undef MMHOOK_OVERRIDES
}  // namespace detail

/// CRTP base that computes `triggered_stages()` from the methods `Derived` overrides.
template <class Derived>
class HookImpl : public Hook {
 public:
  /// The stages `Derived` overrides (public overrides), computed at compile time.
  StageMask triggered_stages() const override {
    static constexpr StageMask kStages = detail::compute_stages<Derived>();
    return kStages;
  }
};

/// The stage names of a mask, in `Hook.stages` order.
std::vector<std::string> stage_names(StageMask mask);

}  // namespace mmhook
