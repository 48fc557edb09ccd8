#pragma once
/// @file
/// ClosureHook: a hook made of one C++ callable bound to one stage, for users who do not want
/// to write a hook class. Not buildable from JSON (a std::function cannot be), so not in the
/// hook registry: register it with `Runner::register_hook`.

#include <functional>
#include <string>

#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/hook.h"

namespace mmhook {

/// Calls `fn(runner, args)` at exactly one stage; `args` carries that stage's arguments
/// (batch_idx/data_batch/outputs, metrics, checkpoint or message, as docs/design.md §B1.1 lists).
class ClosureHook : public Hook {
 public:
  /// The callable's type.
  using Fn = std::function<void(Runner&, const StageArgs&)>;
  /// Binds `fn` to `stage`; an empty `fn` is an Error kInvalidArgument.
  ClosureHook(Stage stage, Fn fn);
  std::string type_name() const override { return "ClosureHook"; }
  /// Exactly `stage()`.
  StageMask triggered_stages() const override { return stage_bit(stage_); }
  /// The bound stage.
  Stage stage() const { return stage_; }

  void before_run(Runner& r) override;
  void after_run(Runner& r) override;
  void before_train(Runner& r) override;
  void after_train(Runner& r) override;
  void before_val(Runner& r) override;
  void after_val(Runner& r) override;
  void before_test(Runner& r) override;
  void after_test(Runner& r) override;
  void after_load_checkpoint(Runner& r, Checkpoint& checkpoint) override;
  void before_save_checkpoint(Runner& r, Checkpoint& checkpoint) override;
  void on_exception(Runner& r, const std::string& message) override;
  void before_train_epoch(Runner& r) override;
  void before_val_epoch(Runner& r) override;
  void before_test_epoch(Runner& r) override;
  void after_train_epoch(Runner& r) override;
  void after_val_epoch(Runner& r, const Metrics& metrics) override;
  void after_test_epoch(Runner& r, const Metrics& metrics) override;
  void before_train_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch) override;
  void before_val_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch) override;
  void before_test_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch) override;
  void after_train_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void after_val_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch,
                      const TensorDict& outputs) override;
  void after_test_iter(Runner& r, int64_t batch_idx, const TensorDict& data_batch,
                       const TensorDict& outputs) override;

 private:
  void fire(Stage s, Runner& r, const StageArgs& args);
  Stage stage_;
  Fn fn_;
};

}  // namespace mmhook
