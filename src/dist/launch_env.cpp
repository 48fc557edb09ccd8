#include "mmhook/dist/launch_env.h"

#include <cstdlib>
#include <optional>

#include "mmhook/core/error.h"

namespace mmhook {
namespace dist {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

int env_int(const char* name, const char* launcher, std::optional<int> fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    if (fallback) return *fallback;
    MMHOOK_THROW(Code::kConfig, "--launcher ", launcher, ": environment variable ", name,
                 " is not set (start the processes with ",
                 std::string(launcher) == "slurm" ? "srun" : "torchrun or 'mmhook launch'", ")");
  }
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  MMHOOK_CHECK_CODE(end != v && *end == '\0' && x >= 0 && x <= 1 << 30, Code::kConfig,
                    "--launcher ", launcher, ": environment variable ", name,
                    " must be a non-negative integer, got '", v, "'");
  return static_cast<int>(x);
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // "prefix[a-b,c],other" -> "prefix" + a (with its zero padding).
  size_t end = nodelist.find_first_of(",[");
  if (end == std::string::npos) return nodelist;
  std::string prefix = nodelist.substr(0, end);
  if (nodelist[end] == ',') return prefix;
  const size_t close = nodelist.find(']', end);
  MMHOOK_CHECK_CODE(close != std::string::npos, Code::kConfig, "SLURM node list '", nodelist,
                    "': unbalanced '['");
  const std::string range = nodelist.substr(end + 1, close - end - 1);
  const size_t stop = range.find_first_of(",-");
  return prefix + range.substr(0, stop);
}

LaunchEnv read_launch_env(const std::string& launcher) {
  LaunchEnv env;
  const char* l = launcher.c_str();
  if (launcher == "pytorch") {
    env.rank = env_int("RANK", l, std::nullopt);
    env.world_size = env_int("WORLD_SIZE", l, std::nullopt);
    env.local_rank = env_int("LOCAL_RANK", l, 0);
    env.master_addr = env_or("MASTER_ADDR", "127.0.0.1");
    env.master_port = env_int("MASTER_PORT", l, 29500);
  } else if (launcher == "slurm") {
    env.rank = env_int("SLURM_PROCID", l, std::nullopt);
    env.world_size = env_int("SLURM_NTASKS", l, std::nullopt);
    env.local_rank = env_int("SLURM_LOCALID", l, 0);
    std::string addr = env_or("MASTER_ADDR", "");
    if (addr.empty()) {
      const std::string nodes = env_or("SLURM_STEP_NODELIST", env_or("SLURM_NODELIST", ""));
      MMHOOK_CHECK_CODE(!nodes.empty(), Code::kConfig,
                        "--launcher slurm: neither MASTER_ADDR nor SLURM_NODELIST is set");
      addr = first_slurm_host(nodes);
    }
    env.master_addr = addr;
    env.master_port = env_int("MASTER_PORT", l, 29500);
  } else {
    MMHOOK_THROW(Code::kConfig, "launcher: expected 'none', 'pytorch' or 'slurm', got '", launcher,
                 "'");
  }
  MMHOOK_CHECK_CODE(env.world_size >= 1 && env.rank < env.world_size, Code::kConfig, "--launcher ",
                    launcher, ": rank ", env.rank, " is not below the world size ", env.world_size);
  MMHOOK_CHECK_CODE(env.master_port >= 1 && env.master_port <= 65535, Code::kConfig, "--launcher ",
                    launcher, ": MASTER_PORT must be in [1, 65535], got ", env.master_port);
  return env;
}

}  // namespace dist
}  // namespace mmhook
