#pragma once
/// @file
/// Process settings a run starts with (threads, allocator, hook timing): `env_cfg` keys, the
/// standard environment variables, then mmhook's measured defaults (benchmarks/README.md).

#include <cstdint>
#include <optional>
#include <string>

namespace mmhook {

class ConfigNode;
class Dispatcher;

/// The settings `apply_env_settings` applies. -1 leaves a setting as the process has it.
struct EnvSettings {
  /// LibTorch intra-op threads (`at::set_num_threads`). Default 1 (2 threads on 2 cores were
  /// slower: OpenMP and OpenBLAS oversubscribe them).
  int64_t num_threads = 1;
  /// OpenBLAS threads (`openblas_set_num_threads`, when OpenBLAS is loaded). Default 1.
  int64_t blas_num_threads = 1;
  /// glibc `mallopt(M_MMAP_THRESHOLD)` in bytes: allocations below it come from the heap, not a
  /// fresh mmap each time (each mmap'd buffer page-faults again on every iteration). Default
  /// 32 MiB, glibc's largest accepted value (larger values are clamped to it).
  int64_t malloc_mmap_threshold = int64_t{32} << 20;
  /// glibc `mallopt(M_TRIM_THRESHOLD)` in bytes: free memory kept at the heap top before it is
  /// given back. Default 512 MiB.
  int64_t malloc_trim_threshold = int64_t{512} << 20;
  /// Hook timing mode: "off", "sampled" (default) or "all" (see `HookTimingMode`).
  std::string hook_timing = "sampled";
  /// Under "sampled", one timed call in this many per-iteration stage calls (default 64).
  int64_t hook_timing_sample_period = 64;
};

/// Reads the settings: each `env_cfg` key when set, else its environment variable when set
/// (num_threads: `OMP_NUM_THREADS`; blas_num_threads: `OPENBLAS_NUM_THREADS`;
/// malloc_mmap_threshold / malloc_trim_threshold: glibc's `MALLOC_MMAP_THRESHOLD_` /
/// `MALLOC_TRIM_THRESHOLD_`, which glibc applies itself, so they read as -1 here;
/// hook_timing: `MMHOOK_HOOK_TIMING`), else the default. Marks the keys read in `env_cfg`;
/// a wrong type or value (thread counts above `max_intra_op_threads()` included) is a config
/// Error naming the key or the environment variable.
EnvSettings read_env_settings(const ConfigNode& env_cfg);

/// Largest accepted `num_threads` / `blas_num_threads`: max(64, 4 x the cores this machine
/// reports). More threads than that only oversubscribe the cores.
int64_t max_intra_op_threads();

/// Applies `s` to the process (threads, allocator) and to `dispatcher` (hook timing).
void apply_env_settings(const EnvSettings& s, Dispatcher& dispatcher);

/// MMEngine's `set_random_seed` for a run (`randomness`): seeds LibTorch with `seed`, or with a
/// random draw of rank 0 shared by every rank when none is given; with `diff_rank_seed` each
/// rank adds its rank. `deterministic` turns on LibTorch's deterministic algorithms. Returns the
/// seed in use.
int64_t set_random_seed(std::optional<int64_t> seed, bool diff_rank_seed, bool deterministic);

}  // namespace mmhook
