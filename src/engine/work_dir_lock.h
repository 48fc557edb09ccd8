#pragma once
// An exclusive lock on a work_dir, so that two runs cannot interleave their logs and
// checkpoints in it.

#include <string>

namespace mmhook {

// flock(2) on `<work_dir>/.mmhook.lock`, which holds the owner's pid. The kernel releases the
// lock when its file is closed, so a crashed or killed owner never leaves a stale lock behind,
// and the file itself is kept (removing it would race with a run that just opened it). flock
// conflicts between separate open()s even within one process: two live runners of one process
// on the same work_dir are refused as well.
class WorkDirLock {
 public:
  // Takes the lock (creating the file). Error kUnavailable naming the owner's pid when another
  // run holds it; kIo when the file cannot be opened. A filesystem without flock support
  // leaves the work_dir unlocked: `unsupported()` says why.
  explicit WorkDirLock(const std::string& work_dir);
  ~WorkDirLock();
  WorkDirLock(const WorkDirLock&) = delete;
  WorkDirLock& operator=(const WorkDirLock&) = delete;

  // The lock file's path.
  const std::string& path() const { return path_; }
  // Why the work_dir could not be locked (empty when it is locked).
  const std::string& unsupported() const { return unsupported_; }

 private:
  std::string path_;
  std::string unsupported_;
  int fd_ = -1;
};

}  // namespace mmhook
