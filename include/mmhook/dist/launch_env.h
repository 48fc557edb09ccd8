#pragma once
/// @file
/// `read_launch_env`: rank, world size and rendezvous address of this process, from the
/// environment a launcher sets (torchrun / `mmhook launch`, SLURM's srun).

#include <string>

namespace mmhook {
namespace dist {

/// The environment a launcher sets for one process.
struct LaunchEnv {
  /// Global rank.
  int rank = 0;
  /// Number of processes.
  int world_size = 1;
  /// Rank on this machine.
  int local_rank = 0;
  /// Address of rank 0's TCPStore. Default "127.0.0.1".
  std::string master_addr = "127.0.0.1";
  /// Port of rank 0's TCPStore. Default 29500 (torchrun's).
  int master_port = 29500;
};

/// Reads the environment of `launcher`: "pytorch" (torchrun / `mmhook launch`: RANK,
/// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or "slurm" (SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID; MASTER_ADDR, else the first host of SLURM_NODELIST / SLURM_STEP_NODELIST;
/// MASTER_PORT, else 29500). A missing or malformed variable is a kConfig Error naming it.
LaunchEnv read_launch_env(const std::string& launcher);

/// Expands the first host of a SLURM node list ("node[01-04,07],gpu3" -> "node01").
std::string first_slurm_host(const std::string& nodelist);

}  // namespace dist
}  // namespace mmhook
