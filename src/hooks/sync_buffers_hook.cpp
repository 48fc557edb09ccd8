#include "mmhook/hooks/sync_buffers_hook.h"

#include "mmhook/engine/runner.h"

namespace mmhook {

void SyncBuffersHook::sync(Runner& runner) {
  ++sync_count_;
  // One process: every buffer already equals its mean over processes. mmhook has no process
  // group yet (Runner::world_size() is 1), so there is nothing to all-reduce.
  if (runner.world_size() <= 1) return;
  MMHOOK_THROW(Code::kDistributed, "SyncBuffersHook: world_size ", runner.world_size(),
               " needs a process group, which this build does not provide");
}

void SyncBuffersHook::after_train_epoch(Runner& runner) {
  sync(runner);
  called_in_train_ = true;
}

void SyncBuffersHook::before_val_epoch(Runner& runner) {
  if (!called_in_train_) sync(runner);
  called_in_train_ = false;
}

}  // namespace mmhook
