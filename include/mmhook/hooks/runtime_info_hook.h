#pragma once
/// @file
/// RuntimeInfoHook (VERY_HIGH): the message hub's runtime info and scalars (docs/design.md §B4.1).

#include "mmhook/core/metrics.h"
#include "mmhook/core/ordered_map.h"
#include "mmhook/engine/hook.h"

#include <string>
#include <vector>

namespace mmhook {

/// Writes loop stage, epoch, iter, learning rates, losses and metrics to the message hub.
class RuntimeInfoHook : public HookImpl<RuntimeInfoHook> {
 public:
  std::string type_name() const override { return "RuntimeInfoHook"; }
  int default_priority() const override { return get_priority(Priority::kVeryHigh); }
  void before_run(Runner& runner) override;
  void before_train(Runner& runner) override;
  void after_train(Runner& runner) override;
  void before_train_epoch(Runner& runner) override;
  void before_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch) override;
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void before_val(Runner& runner) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  void after_val(Runner& runner) override;
  void before_test(Runner& runner) override;
  void after_test_epoch(Runner& runner, const Metrics& metrics) override;
  void after_test(Runner& runner) override;

 private:
  std::string last_loop_stage_;
  bool had_last_loop_stage_ = false;
  std::vector<std::string> lr_keys_;     // "train/<name>" cached per get_lr() key
  OrderedMap<std::vector<double>> lrs_;  // reused by get_lr_into: no allocation per iteration
  std::vector<std::string> output_keys_;
};

}  // namespace mmhook
