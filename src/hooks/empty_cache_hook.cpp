#include "mmhook/hooks/empty_cache_hook.h"

#include <dlfcn.h>

#include <torch/cuda.h>

#include "hooks/builtin_hooks.h"

namespace mmhook {

bool cuda_empty_cache() {
  if (!torch::cuda::is_available()) return false;
  // c10/cuda headers are absent from CPU builds of LibTorch, so the allocator's
  // `c10::cuda::CUDACachingAllocator::emptyCache()` is looked up in the loaded c10_cuda library
  // at run time (it is loaded whenever CUDA is available).
  using EmptyCacheFn = void (*)();
  static EmptyCacheFn fn = [] {
    void* sym = dlsym(RTLD_DEFAULT, "_ZN3c104cuda20CUDACachingAllocator10emptyCacheEv");
    return reinterpret_cast<EmptyCacheFn>(sym);
  }();
  if (fn == nullptr) return false;
  fn();
  return true;
}

EmptyCacheHook::EmptyCacheHook(bool before_epoch, bool after_epoch, bool after_iter)
    : before_epoch_(before_epoch), after_epoch_(after_epoch), after_iter_(after_iter) {}

void EmptyCacheHook::empty_cache() {
  ++calls_;
  if (cuda_empty_cache()) ++cuda_calls_;
}

void EmptyCacheHook::before_epoch(Runner&, Mode) {
  if (before_epoch_) empty_cache();
}

void EmptyCacheHook::after_epoch(Runner&, Mode) {
  if (after_epoch_) empty_cache();
}

void EmptyCacheHook::after_iter(Runner&, int64_t, const TensorDict&, const TensorDict&, Mode) {
  if (after_iter_) empty_cache();
}

void detail::register_empty_cache_hook(Registry<Hook>& registry) {
  registry.add("EmptyCacheHook", [](const ConfigNode& cfg) {
    const bool be = cfg.get<bool>("before_epoch", false);
    const bool ae = cfg.get<bool>("after_epoch", true);
    const bool ai = cfg.get<bool>("after_iter", false);
    return std::make_shared<EmptyCacheHook>(be, ae, ai);
  });
}

}  // namespace mmhook
