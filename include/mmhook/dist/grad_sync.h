#pragma once
/// @file
/// Data-parallel helpers over the process group of `dist.h`: gradient averaging in buckets
/// (what DDP's Reducer does, after backward instead of overlapped with it), and the
/// parameter/buffer broadcasts and buffer averaging of DDP and SyncBuffersHook.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mmhook/core/torch_fwd.h"

namespace mmhook {
namespace dist {

/// Averages the gradients of a fixed list of parameters across ranks.
///
/// The parameters are packed, in order, into buckets of at most `bucket_cap_bytes` (one dtype
/// per bucket, DDP's bucket_cap_mb=25 by default). `sync()` copies the gradients into the
/// buckets, sum-reduces every bucket (all issued before any is waited on), divides by the
/// world size and copies back. A parameter without a gradient contributes zeros and receives
/// the average (its gradient becomes defined), so every rank reduces the same layout.
class GradientSync {
 public:
  /// `params` must all be dense; the order must be the same on every rank.
  explicit GradientSync(std::vector<at::Tensor> params, int64_t bucket_cap_bytes = 25 << 20);
  /// Averages the gradients (nothing with one process).
  void sync();
  /// Number of buckets.
  size_t num_buckets() const { return buckets_.size(); }
  /// Number of sync() calls that communicated.
  int64_t sync_count() const { return sync_count_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    at::Tensor flat;
  };
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  int64_t sync_count_ = 0;
};

/// Copies every parameter and buffer of `module` from rank `src` to all ranks (DDP's start).
void broadcast_module_states(torch::nn::Module& module, int src = 0);

/// Averages the floating-point buffers of `module` across ranks (BatchNorm running stats) and
/// copies the others (counters) from rank 0. Returns the number of buffers synchronised.
int64_t sync_module_buffers(torch::nn::Module& module);

}  // namespace dist
}  // namespace mmhook
