#include "mmhook/core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

constexpr const char* kCheckpointLimitVar = "MMHOOK_MAX_CHECKPOINT_BYTES";

FileProblem system_problem(int err) { return {err, std::strerror(err)}; }

// Empty for a regular file; otherwise why the file type is refused.
std::string file_type_problem(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO";
  if (S_ISCHR(mode)) return "not a regular file (character device)";
  if (S_ISBLK(mode)) return "not a regular file (block device)";
  if (S_ISSOCK(mode)) return "not a regular file (socket)";
  return "not a regular file";
}

std::string size_problem(uint64_t size, const FileSizeLimit& limit) {
  return detail::str_cat("size ", size, " exceeds the limit ", limit.max_bytes, " set by ",
                         limit.set_by);
}

// Checks the type and size of what `st` describes; empty when both are acceptable.
std::string stat_problem(const struct stat& st, const FileSizeLimit& limit) {
  std::string type = file_type_problem(st.st_mode);
  if (!type.empty()) return type;
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > limit.max_bytes) return size_problem(size, limit);
  return "";
}

}  // namespace

FileSizeLimit checkpoint_size_limit() {
  const char* v = std::getenv(kCheckpointLimitVar);
  if (v == nullptr || *v == '\0')
    return {kDefaultMaxCheckpointBytes, std::string("default (16 GiB; the environment variable ") +
                                            kCheckpointLimitVar + " changes it)"};
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  MMHOOK_CHECK(*v >= '0' && *v <= '9' && *end == '\0' && errno == 0 && n > 0, kCheckpointLimitVar,
               "='", v, "': expected a positive number of bytes");
  return {static_cast<uint64_t>(n), std::string(kCheckpointLimitVar) + "=" + v};
}

FileSizeLimit text_file_size_limit() {
  return {kMaxTextFileBytes, "default for text files (64 MiB)"};
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

RegularFile::RegularFile(RegularFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

int RegularFile::release() { return std::exchange(fd_, -1); }

FileProblem open_regular_file(const std::string& path, const FileSizeLimit& limit,
                              RegularFile& file) {
  file = RegularFile();
  // stat first: a device or FIFO is refused without opening it (opening some devices has side
  // effects, e.g. a tape rewinding).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return system_problem(errno);
  std::string problem = stat_problem(st, limit);
  if (!problem.empty()) return {0, problem};
  // The path may have been swapped for a FIFO since: O_NONBLOCK makes that open return at once,
  // and the fstat below refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return system_problem(errno);
  RegularFile opened;
  opened.fd_ = fd;
  if (::fstat(fd, &st) != 0) return system_problem(errno);
  problem = stat_problem(st, limit);
  if (!problem.empty()) return {0, problem};
  // Reads of a regular file never block; blocking mode keeps the descriptor ordinary for
  // whoever reads it (zlib, for one, does not expect EAGAIN).
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return system_problem(errno);
  opened.size_ = static_cast<uint64_t>(st.st_size);
  file = std::move(opened);
  return {};
}

FileProblem read_regular_file(const std::string& path, const FileSizeLimit& limit,
                              std::vector<char>& out) {
  RegularFile file;
  FileProblem problem = open_regular_file(path, limit, file);
  if (!problem.ok()) return problem;
  out.clear();
  // Sized from fstat, but read to the end: the file may change size meanwhile, and some files
  // (in /proc, for one) report size 0.
  out.reserve(static_cast<size_t>(file.size()));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_problem(errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit.max_bytes)
      return {0, size_problem(out.size() + static_cast<size_t>(n), limit) +
                     " (the file grew while being read)"};
    out.insert(out.end(), buf, buf + n);
  }
  return {};
}

std::string read_regular_file(const std::string& path, const FileSizeLimit& limit) {
  std::vector<char> bytes;
  const FileProblem problem = read_regular_file(path, limit, bytes);
  if (!problem.ok()) MMHOOK_THROW(Code::kIo, "cannot read '", path, "': ", problem.reason);
  return std::string(bytes.begin(), bytes.end());
}

void ignore_sigxfsz_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGXFSZ, nullptr, &current) != 0) return;
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) return;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    (void)::sigaction(SIGXFSZ, &ignore, nullptr);
  });
}

}  // namespace mmhook
