#pragma once
/// @file
/// DistSamplerSeedHook (NORMAL): `sampler.set_epoch(epoch)` per train epoch (docs/design.md §B4.3).

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Reseeds the train sampler each epoch so shuffling differs between epochs.
class DistSamplerSeedHook : public HookImpl<DistSamplerSeedHook> {
 public:
  std::string type_name() const override { return "DistSamplerSeedHook"; }
  void before_train_epoch(Runner& runner) override;
};

}  // namespace mmhook
