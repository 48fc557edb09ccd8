#pragma once
/// @file
/// ParamSchedulerHook (LOW): steps the runner's parameter schedulers (docs/design.md §B4.4).

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Steps iteration-based schedulers after each iteration, epoch-based ones after each epoch,
/// and metric-driven ones (ReduceOnPlateau) after validation.
class ParamSchedulerHook : public HookImpl<ParamSchedulerHook> {
 public:
  std::string type_name() const override { return "ParamSchedulerHook"; }
  int default_priority() const override { return get_priority(Priority::kLow); }
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void after_train_epoch(Runner& runner) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
};

}  // namespace mmhook
