#include "mmhook/dist/requeue.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "mmhook/core/error.h"

extern char** environ;

namespace mmhook {
namespace dist {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos;
}

// A job id as slurm_job_id() builds it: N or N_M.
bool valid_job_id(const std::string& id) {
  const size_t us = id.find('_');
  if (us == std::string::npos) return all_digits(id);
  return all_digits(id.substr(0, us)) && all_digits(id.substr(us + 1));
}

std::string checked_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return "";
  std::string value(v);
  MMHOOK_CHECK_CODE(all_digits(value), Code::kConfig, name,
                    ": expected a SLURM job id (a decimal number), got '", value, "'");
  return value;
}

}  // namespace

std::optional<std::string> slurm_job_id() {
  const std::string job = checked_env("SLURM_JOB_ID");
  if (job.empty()) return std::nullopt;
  const std::string array_job = checked_env("SLURM_ARRAY_JOB_ID");
  const std::string array_task = checked_env("SLURM_ARRAY_TASK_ID");
  if (!array_job.empty() && !array_task.empty()) return array_job + "_" + array_task;
  return job;
}

std::string requeue_slurm_job(const std::string& job_id, double timeout_s) {
  MMHOOK_CHECK_CODE(valid_job_id(job_id), Code::kConfig,
                    "requeue: expected a SLURM job id (N or N_M), got '", job_id, "'");
  char out_name[] = "/tmp/mmhook-scontrol-XXXXXX";
  const int out_fd = mkstemp(out_name);
  if (out_fd < 0) return std::string("cannot create a temporary file: ") + std::strerror(errno);
  unlink(out_name);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string prog = "scontrol", verb = "requeue", id = job_id;
  std::vector<char*> argv{prog.data(), verb.data(), id.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, prog.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    close(out_fd);
    return std::string("cannot run scontrol requeue ") + job_id + ": " + std::strerror(rc);
  }
  int status = 0;
  bool done = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      done = true;
    } else if (w < 0 && errno != EINTR) {
      break;
    } else if (std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      close(out_fd);
      return "scontrol requeue " + job_id + " did not finish within " +
             std::to_string(static_cast<int>(timeout_s)) + " s";
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::string output(512, '\0');
  const ssize_t got = pread(out_fd, output.data(), output.size(), 0);
  close(out_fd);
  output.resize(got > 0 ? static_cast<size_t>(got) : 0);
  const size_t nl = output.find('\n');
  if (nl != std::string::npos) output.resize(nl);
  if (done && WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  // A missing scontrol is posix_spawnp's ENOENT above, not an exit status here.
  const std::string why =
      !done               ? std::string("could not be waited for")
      : WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                          : std::string("was killed by signal ") + std::to_string(WTERMSIG(status));
  return "scontrol requeue " + job_id + " " + why + (output.empty() ? "" : ": " + output);
}

}  // namespace dist
}  // namespace mmhook
