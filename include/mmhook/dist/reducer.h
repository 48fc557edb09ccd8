#pragma once
/// @file
/// `Reducer`: gradient averaging overlapped with backward, as PyTorch DDP's reducer does it.
/// The parameters are packed into buckets in reverse registration order (the order backward
/// produces their gradients); a per-parameter autograd hook copies each gradient into its
/// bucket, and a bucket whose gradients are all in is all-reduced asynchronously while backward
/// goes on. `finalize_backward()` waits for every bucket and writes the averages back.
///
/// Contract: the same parameters in the same order on every rank. Buckets are launched strictly
/// in bucket order, so every rank issues the same collectives in the same order even when the
/// gradients arrive in another order. A backward that is not armed (`prepare_for_backward(false)`,
/// DDP's `no_sync`) only accumulates, and the next synchronising backward reduces the sum.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mmhook/dist/dist.h"

namespace mmhook {
namespace dist {

/// Options of `Reducer` (keys of `env_cfg.dist_cfg`).
struct ReducerOptions {
  /// Largest bucket in MiB (`bucket_cap_mb`, > 0). Default 25 (DDP's).
  double bucket_cap_mb = 25;
  /// Parameters that get no gradient in a synchronising backward contribute zeros instead of
  /// being an error (`find_unused_parameters`). Default false.
  bool find_unused_parameters = false;

  /// Sets `bucket_cap_mb`.
  ReducerOptions& bucket_cap(double mb) {
    bucket_cap_mb = mb;
    return *this;
  }
  /// Sets `find_unused_parameters`.
  ReducerOptions& find_unused(bool on) {
    find_unused_parameters = on;
    return *this;
  }
};

/// Averages gradients across ranks, bucket by bucket, while backward runs.
class Reducer {
 public:
  /// One bucket launch of the last synchronising backward.
  struct Launch {
    /// Bucket index (bucket 0 holds the last registered parameters).
    size_t bucket = 0;
    /// True when launched from an autograd hook, false when launched by `finalize_backward`.
    bool during_backward = false;
  };

  /// Hooks every parameter of `params` that requires grad (others are left out). `names` label
  /// the parameters in errors (same length as `params`, or empty for "parameter <i>"). Errors:
  /// an undefined or non-dense parameter, a names list of another length, bucket_cap_mb <= 0
  /// (kInvalidArgument).
  Reducer(std::vector<at::Tensor> params, std::vector<std::string> names,
          ReducerOptions options = {});
  /// Waits for collectives still in flight (errors are dropped) and removes the hooks.
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  /// Before a backward: `sync` arms the hooks (the gradients are reduced), false leaves them
  /// idle (the gradients only accumulate). Waits first for collectives left by a backward that
  /// did not finish.
  void prepare_for_backward(bool sync);
  /// After an armed backward: parameters without a gradient are an Error naming them, or with
  /// find_unused_parameters contribute their current gradient (zeros when none); then every
  /// remaining bucket is launched, all are waited on, and each gradient becomes the average
  /// over ranks. Does nothing after an unarmed backward.
  void finalize_backward();

  /// Number of buckets.
  size_t num_buckets() const { return buckets_.size(); }
  /// Indices into the constructor's `params` of the parameters of bucket `b`, in bucket order.
  std::vector<size_t> bucket_params(size_t b) const;
  /// The launches of the last synchronising backward, in launch order.
  const std::vector<Launch>& last_launches() const { return launches_; }
  /// Synchronising backwards finalised so far.
  int64_t sync_count() const { return sync_count_; }

 private:
  struct Slot {
    size_t param = 0;   // index into the constructor's params
    size_t bucket = 0;  // bucket holding it
    int64_t offset = 0;
    unsigned hook = 0;  // handle of its autograd hook
  };
  struct Bucket {
    std::vector<size_t> slots;  // indices into slots_
    at::Tensor flat;
    size_t remaining = 0;  // slots without their gradient in this backward
    PendingCollective work;
  };

  void on_gradient(size_t slot, const at::Tensor& grad);
  void mark_ready(size_t slot, const at::Tensor& grad);
  void launch_ready_buckets(bool during_backward);
  void wait_all();
  std::string param_name(size_t param) const;

  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  ReducerOptions options_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<char> ready_;  // per slot, in this backward
  std::vector<Launch> launches_;
  size_t next_launch_ = 0;
  bool armed_ = false;
  int64_t sync_count_ = 0;
  std::mutex mutex_;  // hooks may run on autograd's device threads
};

}  // namespace dist
}  // namespace mmhook
