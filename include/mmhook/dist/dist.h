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
#include <memory>
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

class PendingCollective;
namespace detail {
struct PendingState;
/// all_reduce_async and vote_async.
PendingCollective start_all_reduce(const at::Tensor& tensor, bool vote);
}  // namespace detail

/// A collective in flight, from `all_reduce_async`. `wait()` completes it under the process
/// group's timeout and fails like the blocking collectives; a default-constructed or completed
/// handle waits for nothing. Copies share one collective.
class PendingCollective {
 public:
  /// A handle that waits for nothing.
  PendingCollective() = default;
  /// Blocks until the collective is done (at most the timeout); errors are kDistributed Errors
  /// naming this rank and the failed peer. Later calls return at once.
  void wait();
  /// True while the collective is issued and not yet waited on.
  bool pending() const;

 private:
  friend PendingCollective detail::start_all_reduce(const at::Tensor& tensor, bool vote);
  explicit PendingCollective(std::shared_ptr<detail::PendingState> state);
  std::shared_ptr<detail::PendingState> state_;
};

/// Starts a sum all-reduce of `tensor` (contiguous, reduced in place) and returns at once; the
/// tensor must not be touched until `wait()`. Every rank must issue the same collectives in the
/// same order. Without a process group (or with one process) it returns a completed handle.
PendingCollective all_reduce_async(const at::Tensor& tensor);
/// The train loop's stop vote (a sum all-reduce of a few flags, issued every iteration): like
/// `all_reduce_async`, but counted in `CommStats::votes` only, and never held up by the
/// simulated link delay, so that the figures and the knob describe the data the run moves.
PendingCollective vote_async(const at::Tensor& tensor);
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
  /// Collectives issued (each tensor of `all_reduce_many` and each `all_reduce_async` counts
  /// once).
  int64_t calls = 0;
  /// Seconds the calling threads spent issuing and waiting on them: the communication that was
  /// not hidden behind computation.
  double seconds = 0;
  /// Bytes reduced or broadcast by this rank.
  int64_t bytes = 0;
  /// Stop votes (`vote_async`), not counted above.
  int64_t votes = 0;
};
/// Totals so far.
CommStats comm_stats();
/// Zeroes the totals.
void reset_comm_stats();

/// The simulated link delay: `MMHOOK_DIST_DELAY_MS` (a test and benchmark knob; unset or 0 by
/// default). With N > 0 every collective occupies a simulated link for N ms after it is issued,
/// queued behind the collectives issued before it, so a wait returns no earlier than that:
/// a slow network on loopback. Read when the process group is created; a value that is not a
/// number in [0, 60000] is a kConfig Error naming the variable.
double link_delay_ms();

}  // namespace dist
}  // namespace mmhook
