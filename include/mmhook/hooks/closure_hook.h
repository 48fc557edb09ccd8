#pragma once
/// @file
/// ClosureHook: a hook made of one C++ callable bound to one stage, for users who do not want
/// to write a hook class. Not buildable from JSON (a std::function cannot be), so not in the
/// hook registry: register it with `Runner::register_hook`.

#include <functional>
#include <string>

#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/hook.h"
#include "mmhook/engine/stage_hook.h"

namespace mmhook {

/// Calls `fn(runner, args)` at exactly one stage; `args` carries that stage's arguments
/// (batch_idx/data_batch/outputs, metrics, checkpoint or message, as docs/design.md §B1.1 lists).
class ClosureHook : public StageHook<ClosureHook> {
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

  /// Calls the function when `stage` is this hook's stage.
  void on_stage(Stage stage, Runner& runner, const StageArgs& args);

 private:
  Stage stage_;
  Fn fn_;
};

}  // namespace mmhook
