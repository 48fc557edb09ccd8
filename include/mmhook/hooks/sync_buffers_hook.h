#pragma once
/// @file
/// SyncBuffersHook (NORMAL): averages the model's buffers across processes after each train
/// epoch, and before validation unless that already happened (docs/design.md §B4.9).

#include <cstdint>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// MMEngine's SyncBuffersHook. Distributed only: with `runner.world_size() == 1` no
/// all-reduce happens, but the `called_in_train` bookkeeping is the same.
class SyncBuffersHook : public HookImpl<SyncBuffersHook> {
 public:
  std::string type_name() const override { return "SyncBuffersHook"; }
  /// Syncs the buffers, then `called_in_train = true`.
  void after_train_epoch(Runner& runner) override;
  /// Syncs the buffers unless `called_in_train`, then `called_in_train = false`.
  void before_val_epoch(Runner& runner) override;

  /// MMEngine's `called_in_train` flag.
  bool called_in_train() const { return called_in_train_; }
  /// How many times the buffers were synchronised (each a no-op with one process).
  int64_t sync_count() const { return sync_count_; }

 private:
  void sync(Runner& runner);
  bool called_in_train_ = false;
  int64_t sync_count_ = 0;
};

}  // namespace mmhook
