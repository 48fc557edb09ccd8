#pragma once
/// @file
/// Choosing the checkpoint to resume from. An explicit resume never silently starts over: a
/// missing, corrupt or junk `last_checkpoint` (a torn disk, a bit flip, a file removed or
/// edited by hand) falls back to the newest checkpoint that loads, with a warning, and a
/// work_dir without any checkpoint is an error.
///
/// "Newest" means the largest training iteration recorded inside the checkpoint (`meta.iter`),
/// never the file's name or modification time: names differ between by-epoch and by-iteration
/// checkpoints, and copies or restores from backup reorder modification times.

#include <string>
#include <vector>

namespace mmhook {

/// The checkpoint to resume from when `work_dir/last_checkpoint` names `newest` (empty when
/// there is no usable `last_checkpoint`). Candidates are `newest` and the other checkpoints
/// (`*.pth`) in `newest`'s folder and in `fallback_dir`; `best_*` files (saved without optimizer
/// state) and the temporary files of interrupted atomic writes are never candidates.
///
/// - `newest` loads (`load_checkpoint_file`, checksum included): it is chosen, unless a
///   candidate modified no earlier than it records a larger `meta.iter` (a run stopped between
///   writing a checkpoint and updating `last_checkpoint`); then that one is chosen, with a
///   warning. Older files are not opened, so a healthy resume reads one checkpoint.
/// - Otherwise every candidate is opened and the one with the largest `meta.iter` that loads is
///   chosen (ties: the later modification time).
///
/// Each file skipped adds a line to `warnings` naming it and the reason. Errors: kNotFound
/// "no checkpoint in '<dir>' to resume from" when `newest` is empty and there is no candidate
/// at all; kCheckpoint naming every file tried and why when no candidate loads.
std::string select_resume_checkpoint(const std::string& newest, const std::string& fallback_dir,
                                     std::vector<std::string>& warnings);

/// What `work_dir/last_checkpoint` names, or "" (with a line in `warnings`) when that file is
/// missing, unreadable, empty, larger than a path can be, or holds anything but one path.
std::string read_last_checkpoint(const std::string& work_dir, std::vector<std::string>& warnings);

/// The checkpoint an explicit resume of `work_dir` continues from:
/// `select_resume_checkpoint(read_last_checkpoint(work_dir), work_dir)`.
std::string find_resume_checkpoint(const std::string& work_dir, std::vector<std::string>& warnings);

}  // namespace mmhook
