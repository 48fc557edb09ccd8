#pragma once
/// @file
/// CheckInvalidLossHook (NORMAL, MMDetection's name): checks every `interval` training
/// iterations that the loss is finite. On a NaN/inf loss, "stop" raises an Error naming the
/// iteration; "skip" undoes the step (model parameters, buffers and optimizer state are
/// restored from a copy taken in before_train_iter of the checked iterations) and warns.
/// The copy makes "skip" cost one model-sized copy per checked iteration: use it for small
/// models or with `interval` 1 only when that cost is acceptable.

#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/ivalue.h>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Guards training against an invalid (NaN or infinite) loss.
class CheckInvalidLossHook : public HookImpl<CheckInvalidLossHook> {
 public:
  /// `interval` > 0; `on_invalid` "stop" or "skip" (Error kInvalidArgument otherwise).
  explicit CheckInvalidLossHook(int64_t interval = 50, std::string on_invalid = "stop");
  std::string type_name() const override { return "CheckInvalidLossHook"; }
  /// With "skip", copies model and optimizer state on the iterations that will be checked.
  void before_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch) override;
  /// Checks `outputs["loss"]` every `interval` iterations (runner.iter() + 1 divisible by it).
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;

  /// Checks every n iterations.
  int64_t interval() const { return interval_; }
  /// "stop" or "skip".
  const std::string& on_invalid() const { return on_invalid_; }
  /// Steps undone so far ("skip").
  int64_t skipped() const { return skipped_; }

 private:
  int64_t interval_;
  std::string on_invalid_;
  int64_t skipped_ = 0;
  std::optional<c10::IValue> model_copy_;
  std::optional<c10::IValue> optim_copy_;
};

}  // namespace mmhook
