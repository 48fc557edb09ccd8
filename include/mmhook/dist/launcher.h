#pragma once
/// @file
/// `mmhook launch`: starts N processes of one program on this machine with the environment
/// torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT),
/// waits for them, and stops the others when one fails.

#include <string>
#include <vector>

namespace mmhook {
namespace dist {

/// Options of `launch_local`.
struct LaunchOptions {
  /// Processes to start (>= 1).
  int nproc_per_node = 1;
  /// Rank 0's TCPStore address. Default "127.0.0.1".
  std::string master_addr = "127.0.0.1";
  /// Rank 0's TCPStore port; 0 picks a free one. Default 0.
  int master_port = 0;
  /// After the first failure, or a forwarded SIGINT/SIGTERM, seconds the children get before
  /// SIGKILL. Default 10.
  double kill_grace_s = 10;
  /// Allow more than `max_local_processes()` processes. Default false.
  bool force = false;
  /// Times the whole group is started again after a rank fails (torchrun's `--max-restarts`).
  /// Each attempt gets a fresh rendezvous; the children see the attempt in
  /// `TORCHELASTIC_RESTART_COUNT` and this limit in `TORCHELASTIC_MAX_RESTARTS`, and continue
  /// from the last checkpoint when they train with `resume: "auto"`. Default 0.
  int max_restarts = 0;
};

/// Exit status of a run that stopped early on request (SIGTERM or SIGUSR1, e.g. a scheduler's
/// preemption warning) after saving a checkpoint to resume from: EX_TEMPFAIL of sysexits.h,
/// "try again". `mmhook train` exits with it; `launch_local` passes it on.
inline constexpr int kExitPreempted = 75;

/// Most processes `launch_local` starts without `force`: 16 x the cores this machine reports
/// (more only thrash it; 1000 ranks on 2 cores ran for 14+ minutes).
int max_local_processes();

/// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it back).
int find_free_port();

/// Runs `argv` (argv[0] is the program path) `nproc_per_node` times with the environment set,
/// forwards SIGINT, SIGTERM and SIGUSR1 to the children (then SIGKILL after `kill_grace_s`), and
/// returns 0 when all succeed. When a child fails the others are stopped (SIGTERM, then SIGKILL
/// after `kill_grace_s`) and, while `max_restarts` allows, the whole group starts again; the
/// last attempt's status is returned: that of the first child that failed (128 + signal for a
/// killed one). A run stopped by a forwarded signal is not restarted and returns
/// `kExitPreempted` when every child exited with it, else 128 + the signal. Prints one line per
/// failed rank and restart to stderr. Throws an invalid-argument Error for nproc_per_node < 1,
/// above `max_local_processes()` without `force`, or max_restarts < 0.
int launch_local(const std::vector<std::string>& argv, const LaunchOptions& options);

}  // namespace dist
}  // namespace mmhook
