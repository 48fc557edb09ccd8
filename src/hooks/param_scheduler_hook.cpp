#include "mmhook/hooks/param_scheduler_hook.h"

#include "hooks/builtin_hooks.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/scheduler/param_scheduler.h"

namespace mmhook {

void ParamSchedulerHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                          const TensorDict&) {
  for (const auto& s : runner.param_schedulers())
    if (!s->by_epoch()) s->step();
}

void ParamSchedulerHook::after_train_epoch(Runner& runner) {
  for (const auto& s : runner.param_schedulers())
    if (s->by_epoch()) s->step();
}

void ParamSchedulerHook::after_val_epoch(Runner& runner, const Metrics& metrics) {
  if (runner.val_loop().interrupted()) return;  // a stopped pass has no metrics to step on
  for (const auto& s : runner.param_schedulers())
    if (s->by_epoch() && s->need_val_args()) s->step(metrics);
}

void detail::register_param_scheduler_hook(Registry<Hook>& registry) {
  add_hook_without_options<ParamSchedulerHook>(registry, "ParamSchedulerHook");
}

}  // namespace mmhook
