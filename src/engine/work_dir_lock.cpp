#include "engine/work_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

// The pid the owner wrote, or "unknown" (it may be between truncating and writing).
std::string owner_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid.push_back(buf[i]);
  return pid.empty() ? std::string("unknown") : pid;
}

}  // namespace

WorkDirLock::WorkDirLock(const std::string& work_dir) : path_(work_dir + "/.mmhook.lock") {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    MMHOOK_THROW(Code::kIo, "work_dir: cannot open the lock file '", path_,
                 "': ", std::strerror(errno));
  int rc = 0;
  do {
    rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) {
      unsupported_ = std::strerror(err);
      ::close(fd_);
      fd_ = -1;
      return;
    }
    const std::string pid = owner_pid(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      const bool self = pid == std::to_string(::getpid());
      MMHOOK_THROW(Code::kUnavailable, "work_dir '", work_dir, "' is in use by another run (pid ",
                   pid, self ? ", this process" : "", ") holding '", path_,
                   "': wait for it to end or choose another work_dir");
    }
    MMHOOK_THROW(Code::kIo, "work_dir: cannot lock '", path_, "': ", std::strerror(err));
  }
  // The pid is for the error message of a run that finds the work_dir taken.
  const std::string text = std::to_string(::getpid()) + "\n";
  const bool written = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, text.data(), text.size(), 0) ==
                                                       static_cast<ssize_t>(text.size());
  (void)written;  // a failure only costs a competing run's message the pid: not worth failing
}

WorkDirLock::~WorkDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace mmhook
