#include "mmhook/hooks/sync_buffers_hook.h"

#include "hooks/builtin_hooks.h"
#include "mmhook/dist/grad_sync.h"
#include "mmhook/engine/runner.h"
#include "mmhook/model/base_model.h"

namespace mmhook {

void SyncBuffersHook::sync(Runner& runner) {
  ++sync_count_;
  // One process: every buffer already equals its mean over processes.
  if (runner.world_size() <= 1) return;
  dist::sync_module_buffers(runner.model());
}

void SyncBuffersHook::after_train_epoch(Runner& runner) {
  sync(runner);
  called_in_train_ = true;
}

void SyncBuffersHook::before_val_epoch(Runner& runner) {
  if (!called_in_train_) sync(runner);
  called_in_train_ = false;
}

void detail::register_sync_buffers_hook(Registry<Hook>& registry) {
  add_hook_without_options<SyncBuffersHook>(registry, "SyncBuffersHook");
}

}  // namespace mmhook
