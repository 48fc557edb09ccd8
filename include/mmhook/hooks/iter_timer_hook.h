#pragma once
/// @file
/// IterTimerHook (NORMAL): `data_time`, `time` and `eta` per mode (docs/design.md §B4.2).

#include <functional>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Times data loading and whole iterations; estimates the remaining time.
class IterTimerHook : public HookImpl<IterTimerHook> {
 public:
  /// Uses `now_seconds` as the clock (seconds, monotonic); empty: `std::chrono::steady_clock`.
  explicit IterTimerHook(std::function<double()> now_seconds = {});
  std::string type_name() const override { return "IterTimerHook"; }
  void before_train(Runner& runner) override;
  void before_epoch(Runner& runner, Mode mode) override;
  void after_epoch(Runner& runner, Mode mode) override;
  void before_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                   Mode mode) override;
  void after_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                  const TensorDict& outputs, Mode mode) override;

 private:
  std::function<double()> now_;
  double t_ = 0;
  int64_t start_iter_ = 0;
  double time_sec_tot_ = 0;
  double time_sec_test_val_ = 0;
};

}  // namespace mmhook
