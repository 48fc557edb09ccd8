#pragma once
/// @file
/// The process group of a data-parallel run (MMEngine's `mmengine/dist`): initialisation from
/// the launcher's environment, rank queries, and the collectives the engine needs, on torch's
/// c10d (`ProcessGroupGloo` on CPU, `ProcessGroupNCCL` when LibTorch has CUDA) with a
/// `TCPStore` rendezvous.
///
/// Contract: one process group per process, like `torch.distributed`'s default group. Without
/// `init_dist` every query answers "rank 0 of 1" and every collective returns at once without
/// touching its arguments (no cost for single-process runs). Every collective runs under the
/// configured timeout; a failure (a peer that exited, raised or stopped answering) is an
/// `Error` with code `kDistributed` whose message names this rank, the collective and, when it
/// can be found, the rank that failed first.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "mmhook/dist/launch_env.h"

namespace mmhook {
namespace dist {

/// Options of the process group (MMEngine's `env_cfg.dist_cfg`).
struct DistOptions {
  /// "gloo" (CPU) or "nccl" (needs a CUDA LibTorch). Default "gloo".
  std::string backend = "gloo";
  /// Rendezvous and collective timeout. Default 1800 s (torch's default).
  std::chrono::milliseconds timeout{1800 * 1000};
};

/// Creates the process group for `env` (rank 0 hosts the TCPStore). Errors: a second call
/// (kFailedPrecondition), an unknown backend, "nccl" without CUDA (kInvalidArgument), a
/// rendezvous that does not complete within the timeout (kDistributed).
void init_process_group(const LaunchEnv& env, const DistOptions& options = {});
/// `init_process_group(read_launch_env(launcher), options)`.
void init_dist(const std::string& launcher, const DistOptions& options = {});
/// Drops the process group (closing its connections, so peers fail at once instead of
/// waiting for the timeout); afterwards the process is "rank 0 of 1" again.
void destroy_process_group();

/// True once `init_process_group` succeeded (even with world size 1).
bool is_distributed();
/// This process's rank (0 without a process group).
int get_rank();
/// Number of processes (1 without a process group).
int get_world_size();
/// Rank on this machine (0 without a process group).
int get_local_rank();
/// `get_rank() == 0`.
inline bool is_main_process() { return get_rank() == 0; }
/// The backend name ("gloo", "nccl"), "" without a process group.
std::string backend();

/// Reduction of `all_reduce`.
enum class ReduceOp { kSum, kMean, kMax, kMin };

/// Reduces `tensor` in place across ranks (kMean divides the sum by the world size).
void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
/// Sum-reduces the tensors in place, issuing all collectives before waiting on any.
void all_reduce_many(std::vector<at::Tensor>& tensors);
/// Copies `tensor` of rank `src` into `tensor` on every rank.
void broadcast(at::Tensor& tensor, int src = 0);
/// `value` of every rank, in rank order.
std::vector<nlohmann::json> all_gather_object(const nlohmann::json& value);
/// `value` of rank `src`, on every rank.
nlohmann::json broadcast_object(const nlohmann::json& value, int src = 0);
/// Waits until every rank arrives.
void barrier();

/// Records this rank's failure in the store so peers can name it in their errors. Never throws.
void report_failure(const std::string& message) noexcept;

/// Time spent in collectives since the process group was created (or the last reset).
struct CommStats {
  /// Collectives issued.
  int64_t calls = 0;
  /// Seconds spent issuing and waiting on them.
  double seconds = 0;
  /// Bytes reduced or broadcast by this rank.
  int64_t bytes = 0;
};
/// Totals so far.
CommStats comm_stats();
/// Zeroes the totals.
void reset_comm_stats();

}  // namespace dist
}  // namespace mmhook
