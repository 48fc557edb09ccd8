#pragma once
/// @file
/// Whole-file writes that leave either the old or the new file, never a partial one
/// (`write_file_atomic`: checkpoints, `last_checkpoint`), and the bounded read of small text
/// files such as `last_checkpoint` (`read_text_file`).

#include <cstddef>
#include <string>

namespace mmhook {

/// Atomically replaces `path` with `contents`: temp file in the same folder, write, fsync,
/// rename, fsync the folder. On failure the temp file is removed, the previous file is left
/// intact, and an Error kIo names the file and the system's reason ("No space left on device",
/// and "File too large" past a file size limit: SIGXFSZ is ignored, see `ignore_sigxfsz_once`).
void write_file_atomic(const std::string& path, const std::string& contents);
/// `write_file_atomic` for binary data.
void write_file_atomic(const std::string& path, const void* data, size_t size);
/// The whole content of a text file (such as `last_checkpoint`); Error kIo naming the file and
/// the reason: the system's, not a regular file, or larger than `kMaxTextFileBytes` (64 MiB).
std::string read_text_file(const std::string& path);

}  // namespace mmhook
