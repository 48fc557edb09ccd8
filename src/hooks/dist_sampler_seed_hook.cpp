#include "mmhook/hooks/dist_sampler_seed_hook.h"

#include "hooks/builtin_hooks.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/data/sampler.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"

namespace mmhook {

void DistSamplerSeedHook::before_train_epoch(Runner& runner) {
  runner.train_loop().dataloader().sampler().set_epoch(runner.epoch());
}

void detail::register_dist_sampler_seed_hook(Registry<Hook>& registry) {
  add_hook_without_options<DistSamplerSeedHook>(registry, "DistSamplerSeedHook");
}

}  // namespace mmhook
