#include "mmhook/checkpoint/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "mmhook/core/error.h"
#include "mmhook/core/file_io.h"

namespace mmhook {

namespace {

[[noreturn]] void io_fail(const std::string& path, const std::string& step, int err) {
  MMHOOK_THROW(Code::kIo, "cannot write '", path, "': ", step, ": ", std::strerror(err));
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  MMHOOK_CHECK(!target.filename().empty(), "write_file_atomic: '", path, "' names no file");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // A file size limit (ulimit -f) then fails the write with EFBIG, reported below like a full
  // disk, instead of SIGXFSZ killing the process without a word.
  ignore_sigxfsz_once();
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) io_fail(path, "cannot create a temporary file in '" + dir.string() + "'", errno);
  const std::string tmp = tmpl;
  auto fail = [&](const std::string& step, int err, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(tmp.c_str());
    io_fail(path, step, err);
  };
  const auto* p = static_cast<const char*>(data);
  // Fault injection for the kill-anywhere test (tests/reliability): MMHOOK_FAULT_WRITE_PAUSE_US
  // pauses after the first half of the bytes, widening the window in which a SIGKILL leaves a
  // partial temporary file. Unset (always, outside that test) it costs one getenv per process.
  static const long pause_us = [] {
    const char* v = std::getenv("MMHOOK_FAULT_WRITE_PAUSE_US");
    return v != nullptr ? std::strtol(v, nullptr, 10) : 0L;
  }();
  const size_t half = pause_us > 0 ? size / 2 : size;
  for (const size_t end : {half, size}) {
    while (static_cast<size_t>(p - static_cast<const char*>(data)) < end) {
      const ssize_t n =
          ::write(fd, p, end - static_cast<size_t>(p - static_cast<const char*>(data)));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write", errno, true);
      }
      p += n;
    }
    if (end == half && pause_us > 0) ::usleep(static_cast<useconds_t>(pause_us));
  }
  if (::fchmod(fd, 0644) != 0) fail("chmod", errno, true);
  if (::fsync(fd) != 0) fail("fsync", errno, true);
  if (::close(fd) != 0) fail("close", errno, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from '" + tmp + "'", errno, false);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) io_fail(path, "open folder '" + dir.string() + "' for fsync", errno);
  // Some filesystems cannot fsync a folder (EINVAL); the rename itself has succeeded then.
  if (::fsync(dfd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(dfd);
    io_fail(path, "fsync folder '" + dir.string() + "'", err);
  }
  ::close(dfd);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, contents.data(), contents.size());
}

std::string read_text_file(const std::string& path) {
  return read_regular_file(path, text_file_size_limit());
}

}  // namespace mmhook
