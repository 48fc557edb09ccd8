#include "mmhook/dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "mmhook/core/error.h"

namespace mmhook {
namespace dist {
namespace {

volatile std::sig_atomic_t g_forward_signal = 0;

void remember_signal(int sig) { g_forward_signal = sig; }

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

int find_free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  MMHOOK_CHECK_CODE(fd >= 0, Code::kIo, "find_free_port: socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  MMHOOK_CHECK_CODE(ok, Code::kIo, "find_free_port: ", std::strerror(err));
  return ntohs(addr.sin_port);
}

int max_local_processes() {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  return 16 * cores;
}

namespace {

// What one start of the group came to.
struct Attempt {
  int code = 0;                    // 0, the first failing child's status, or the stop's (see below)
  bool stopped_by_signal = false;  // a forwarded signal stopped it: no restart
};

Attempt run_attempt(std::vector<char*>& cargv, const LaunchOptions& options, int port, int attempt,
                    const struct sigaction& old_int, const struct sigaction& old_term,
                    const struct sigaction& old_usr1) {
  const int n = options.nproc_per_node;
  std::vector<pid_t> pids(n, -1);
  for (int r = 0; r < n; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      for (int k = 0; k < r; ++k) kill(pids[k], SIGKILL);
      for (int k = 0; k < r; ++k) waitpid(pids[k], nullptr, 0);
      MMHOOK_THROW(Code::kIo, "launch: fork failed: ", std::strerror(err));
    }
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      sigaction(SIGUSR1, &old_usr1, nullptr);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      setenv("MASTER_ADDR", options.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("TORCHELASTIC_RESTART_COUNT", std::to_string(attempt).c_str(), 1);
      setenv("TORCHELASTIC_MAX_RESTARTS", std::to_string(options.max_restarts).c_str(), 1);
      execv(cargv[0], cargv.data());
      std::fprintf(stderr, "mmhook launch: cannot run %s: %s\n", cargv[0], std::strerror(errno));
      std::_Exit(127);
    }
    pids[r] = pid;
  }

  int running = n;
  Attempt out;
  bool stopping = false;
  bool all_preempted = true;  // every child that exited so far exited with kExitPreempted
  int forwarded = 0;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(options.kill_grace_s * 1000));
  auto signal_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) kill(p, sig);
  };
  while (running > 0) {
    if (g_forward_signal != 0) {
      const int sig = g_forward_signal;
      g_forward_signal = 0;
      signal_all(sig);
      if (forwarded == 0) forwarded = sig;
      // A forwarded signal gets the same grace as a failing rank, then SIGKILL: children that
      // ignore it must not keep the launcher (and its scheduler's job) alive.
      if (!out.stopped_by_signal) {
        out.stopped_by_signal = true;
        stopping = true;
        stop_deadline = std::chrono::steady_clock::now() + grace;
      }
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int rank = -1;
      for (int r = 0; r < n; ++r)
        if (pids[r] == pid) rank = r;
      if (rank < 0) continue;
      pids[rank] = -1;
      --running;
      const int code = exit_code(status);
      all_preempted = all_preempted && WIFEXITED(status) && code == kExitPreempted;
      if (code != 0 && !stopping) {
        stopping = true;
        out.code = code;
        stop_deadline = std::chrono::steady_clock::now() + grace;
        if (WIFEXITED(status) && code == kExitPreempted) {
          // The ranks agreed to stop (a preemption signal reached one of them) and saved a
          // checkpoint together: the others are exiting too, and a signal now could cut their
          // last steps short.
          std::fprintf(stderr, "mmhook launch: rank %d (pid %d) stopped early to be resumed\n",
                       rank, static_cast<int>(pid));
        } else {
          std::fprintf(stderr, "mmhook launch: rank %d (pid %d) %s; stopping the other ranks\n",
                       rank, static_cast<int>(pid), describe(status).c_str());
          signal_all(SIGTERM);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
      signal_all(SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (out.stopped_by_signal) out.code = all_preempted ? kExitPreempted : 128 + forwarded;
  return out;
}

}  // namespace

int launch_local(const std::vector<std::string>& argv, const LaunchOptions& options) {
  MMHOOK_CHECK(!argv.empty(), "launch: no program to run");
  MMHOOK_CHECK(options.nproc_per_node >= 1, "launch: --nproc-per-node must be >= 1, got ",
               options.nproc_per_node);
  MMHOOK_CHECK(options.force || options.nproc_per_node <= max_local_processes(),
               "launch: --nproc-per-node ", options.nproc_per_node, " is more than ",
               max_local_processes(), " (16 x the ", std::thread::hardware_concurrency(),
               " cores here); pass --force to start them anyway");
  MMHOOK_CHECK(options.master_port >= 0 && options.master_port <= 65535,
               "launch: --master-port must be in [0, 65535], got ", options.master_port);
  MMHOOK_CHECK(options.max_restarts >= 0, "launch: --max-restarts must be >= 0, got ",
               options.max_restarts);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{}, old_usr1{};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGUSR1, &sa, &old_usr1);
  struct Restore {
    const struct sigaction &i, &t, &u;
    ~Restore() {
      sigaction(SIGINT, &i, nullptr);
      sigaction(SIGTERM, &t, nullptr);
      sigaction(SIGUSR1, &u, nullptr);
    }
  } restore{old_int, old_term, old_usr1};

  for (int attempt = 0;; ++attempt) {
    // A fresh rendezvous each time: the failed group's store may still hold its port.
    const int port = options.master_port != 0 ? options.master_port : find_free_port();
    const Attempt a = run_attempt(cargv, options, port, attempt, old_int, old_term, old_usr1);
    if (a.code == 0 || a.stopped_by_signal || attempt >= options.max_restarts ||
        g_forward_signal != 0)
      return a.code;
    std::fprintf(stderr, "mmhook launch: starting all %d ranks again (restart %d of %d)\n",
                 options.nproc_per_node, attempt + 1, options.max_restarts);
  }
}

}  // namespace dist
}  // namespace mmhook
