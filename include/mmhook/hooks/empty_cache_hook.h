#pragma once
/// @file
/// EmptyCacheHook (NORMAL): releases the CUDA caching allocator's unused blocks before/after
/// epochs and after iterations, for train, val and test alike (docs/design.md §B4.9).

#include <cstdint>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Calls the CUDA allocator's `emptyCache` at the chosen points (only when CUDA is available);
/// `calls()` counts the points reached whether or not CUDA is present.
class EmptyCacheHook : public HookImpl<EmptyCacheHook> {
 public:
  /// MMEngine's EmptyCacheHook(before_epoch=False, after_epoch=True, after_iter=False).
  explicit EmptyCacheHook(bool before_epoch = false, bool after_epoch = true,
                          bool after_iter = false);
  std::string type_name() const override { return "EmptyCacheHook"; }
  void before_epoch(Runner& runner, Mode mode) override;
  void after_epoch(Runner& runner, Mode mode) override;
  void after_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                  const TensorDict& outputs, Mode mode) override;

  /// How many times this hook asked to empty the cache.
  int64_t calls() const { return calls_; }
  /// How many of those reached CUDA's allocator (0 without CUDA).
  int64_t cuda_calls() const { return cuda_calls_; }

 private:
  void empty_cache();
  bool before_epoch_, after_epoch_, after_iter_;
  int64_t calls_ = 0;
  int64_t cuda_calls_ = 0;
};

/// Frees the CUDA caching allocator's unused blocks; returns false (doing nothing) when CUDA is
/// not available in this process.
bool cuda_empty_cache();

}  // namespace mmhook
