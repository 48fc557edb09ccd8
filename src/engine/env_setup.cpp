#include "mmhook/engine/env_setup.h"

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/dist/dist.h"
#include "mmhook/engine/dispatcher.h"

namespace mmhook {
namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

// A positive integer from the environment, or `fallback` when unset or not a number.
int64_t env_int(const char* name, int64_t fallback) {
  if (!env_set(name)) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(std::getenv(name), &end, 10);
  return (end != nullptr && *end == '\0' && v > 0) ? static_cast<int64_t>(v) : fallback;
}

}  // namespace

int64_t max_intra_op_threads() {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  return std::max<int64_t>(64, 4 * cores);
}

EnvSettings read_env_settings(const ConfigNode& env) {
  EnvSettings s;
  auto positive = [&](const char* key, int64_t fallback) {
    const int64_t v = env.get<int64_t>(key, fallback);
    if (v < 1 && v != -1)
      env.fail(key, "must be >= 1 (or -1: leave as is), got " + std::to_string(v));
    return v;
  };
  // Thread counts far beyond the machine's cores only oversubscribe it: 1000 OpenMP threads on
  // 2 cores turned every parallel region into a near hang. Refused with the limit named.
  const int64_t max_threads = max_intra_op_threads();
  auto threads = [&](const char* key, const char* env_name, int64_t fallback) {
    const bool from_config = env.has(key);
    const int64_t v = positive(key, env_int(env_name, fallback));
    if (v <= max_threads) return v;
    const std::string why = "must be at most " + std::to_string(max_threads) + " (" +
                            std::to_string(std::thread::hardware_concurrency()) +
                            " cores here), got " + std::to_string(v);
    if (!from_config) MMHOOK_THROW(Code::kConfig, "environment variable ", env_name, ": ", why);
    env.fail(key, why);
  };
  s.num_threads = threads("num_threads", "OMP_NUM_THREADS", s.num_threads);
  s.blas_num_threads = threads("blas_num_threads", "OPENBLAS_NUM_THREADS", s.blas_num_threads);
  s.malloc_mmap_threshold = positive(
      "malloc_mmap_threshold", env_set("MALLOC_MMAP_THRESHOLD_") ? -1 : s.malloc_mmap_threshold);
  s.malloc_trim_threshold = positive(
      "malloc_trim_threshold", env_set("MALLOC_TRIM_THRESHOLD_") ? -1 : s.malloc_trim_threshold);
  const char* timing_env = std::getenv("MMHOOK_HOOK_TIMING");
  s.hook_timing = env.get<std::string>(
      "hook_timing", timing_env != nullptr && *timing_env != '\0' ? timing_env : s.hook_timing);
  (void)parse_hook_timing_mode(s.hook_timing, env.key_path("hook_timing"));
  s.hook_timing_sample_period =
      env.get<int64_t>("hook_timing_sample_period", s.hook_timing_sample_period);
  if (s.hook_timing_sample_period < 1)
    env.fail("hook_timing_sample_period",
             "must be >= 1, got " + std::to_string(s.hook_timing_sample_period));
  return s;
}

void apply_env_settings(const EnvSettings& s, Dispatcher& dispatcher) {
  if (s.num_threads > 0 && at::get_num_threads() != s.num_threads)
    at::set_num_threads(static_cast<int>(s.num_threads));
  if (s.blas_num_threads > 0) {
    // Looked up at run time: LibTorch reaches OpenBLAS through libblas.so.3, which may be
    // another BLAS (then there is nothing to set).
    using SetThreads = void (*)(int);
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      fn(static_cast<int>(s.blas_num_threads));
  }
#if defined(__GLIBC__)
  // glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
  if (s.malloc_mmap_threshold > 0)
    mallopt(M_MMAP_THRESHOLD,
            static_cast<int>(std::min<int64_t>(s.malloc_mmap_threshold, int64_t{32} << 20)));
  if (s.malloc_trim_threshold > 0)
    mallopt(M_TRIM_THRESHOLD,
            static_cast<int>(std::min<int64_t>(s.malloc_trim_threshold, int64_t{1} << 30)));
#endif
  dispatcher.set_timing(parse_hook_timing_mode(s.hook_timing, "env_cfg.hook_timing"),
                        static_cast<uint64_t>(s.hook_timing_sample_period));
}

int64_t set_random_seed(std::optional<int64_t> seed, bool diff_rank_seed, bool deterministic) {
  int64_t value = 0;
  if (seed) {
    value = *seed;
  } else {
    std::random_device rd;
    // MMEngine's sync_random_seed: every rank takes rank 0's draw.
    value = dist::broadcast_object(static_cast<int64_t>(rd() & 0x7fffffff)).get<int64_t>();
  }
  if (diff_rank_seed) value += dist::get_rank();
  torch::manual_seed(static_cast<uint64_t>(value));
  if (deterministic) at::globalContext().setDeterministicAlgorithms(true, false);
  return value;
}

}  // namespace mmhook
