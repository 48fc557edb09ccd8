#pragma once
/// @file
/// Reading files that come from outside the process (checkpoints, configs, `last_checkpoint`
/// markers, datasets, TorchScript models): only regular files, up to a size limit, and never
/// blocking. A path such as `/dev/zero` would otherwise be read until memory runs out, and a
/// FIFO would block the run forever.
///
/// The rule: the path (after symlinks are resolved) must name a regular file no larger than the
/// limit. It is checked with `stat` before opening, the file is opened with `O_NONBLOCK` (so a
/// FIFO swapped in after the check cannot block the open) and checked again with `fstat` on the
/// open descriptor (so the file read is the file checked); a file that grows past the limit
/// while being read is refused too.
///
/// Checkpoint files are limited to 16 GiB unless the environment variable
/// `MMHOOK_MAX_CHECKPOINT_BYTES` (a positive number of bytes, read at each load) says otherwise;
/// text files (configs, markers) to 64 MiB.

#include <cstdint>
#include <string>
#include <vector>

namespace mmhook {

/// A size limit for reading a file, and where it comes from (named in errors).
struct FileSizeLimit {
  /// The largest accepted size in bytes.
  uint64_t max_bytes = 0;
  /// Completes "size X exceeds the limit Y set by ...", e.g. "MMHOOK_MAX_CHECKPOINT_BYTES".
  std::string set_by;
};

/// The default limit for checkpoint files (and TorchScript model files): 16 GiB.
inline constexpr uint64_t kDefaultMaxCheckpointBytes = uint64_t{16} << 30;
/// The limit for text files (configs, `last_checkpoint` markers): 64 MiB.
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{64} << 20;

/// The limit for checkpoint files: `MMHOOK_MAX_CHECKPOINT_BYTES` when set, else
/// `kDefaultMaxCheckpointBytes`. A value that is not a positive integer is an Error
/// kInvalidArgument naming the variable and the value.
FileSizeLimit checkpoint_size_limit();
/// The limit for text files: `kMaxTextFileBytes`.
FileSizeLimit text_file_size_limit();

/// Why a file could not be opened or read; `ok()` when it could.
struct FileProblem {
  /// The errno of the failing system call (e.g. ENOENT), or 0 when the file was refused by the
  /// regular-file rule or the size limit.
  int err = 0;
  /// What went wrong, e.g. "is a FIFO", "not a regular file (character device)", "is a
  /// directory", "size 20 exceeds the limit 10 set by MMHOOK_MAX_CHECKPOINT_BYTES", or the
  /// system's message for `err`. Empty when there was no problem. It does not name the file:
  /// callers prefix their own "cannot read '<path>': " (or "checkpoint '<path>': ").
  std::string reason;
  /// True when there was no problem.
  bool ok() const { return reason.empty(); }
};

/// A read-only file descriptor of a regular file, closed on destruction.
class RegularFile {
 public:
  /// No file.
  RegularFile() = default;
  /// Closes the descriptor.
  ~RegularFile();
  /// Takes over `other`'s descriptor.
  RegularFile(RegularFile&& other) noexcept;
  /// Closes the current descriptor and takes over `other`'s.
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  /// The descriptor (blocking mode), or -1 when no file is open.
  int fd() const { return fd_; }
  /// The size `fstat` reported when the file was opened.
  uint64_t size() const { return size_; }
  /// Gives up ownership: returns the descriptor, which the caller must close.
  int release();

 private:
  friend FileProblem open_regular_file(const std::string& path, const FileSizeLimit& limit,
                                       RegularFile& file);
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// Opens `path` for reading under the regular-file rule (see the file comment) and `limit`.
/// On success `file` holds the descriptor; otherwise `file` is left closed and the problem is
/// returned. Never blocks on a FIFO or device.
FileProblem open_regular_file(const std::string& path, const FileSizeLimit& limit,
                              RegularFile& file);

/// Reads the whole of `path` into `out` under the regular-file rule and `limit` (a file that
/// grows past the limit while being read is refused). `out` is unspecified on failure.
FileProblem read_regular_file(const std::string& path, const FileSizeLimit& limit,
                              std::vector<char>& out);

/// `read_regular_file` that returns the content as a string; a problem is an Error kIo
/// "cannot read '<path>': <reason>".
std::string read_regular_file(const std::string& path, const FileSizeLimit& limit);

/// Makes a write past the process's file size limit (`ulimit -f`, RLIMIT_FSIZE) fail with EFBIG
/// ("File too large", reported like a full disk) instead of killing the process with SIGXFSZ,
/// whose default action ends the run silently. Changes SIGXFSZ to ignored only while its
/// disposition is the default (a handler the host installed is kept); does this once per
/// process, whoever calls it. `write_file_atomic` calls it before its first write.
void ignore_sigxfsz_once();

}  // namespace mmhook
