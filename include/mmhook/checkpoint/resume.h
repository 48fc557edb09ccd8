#pragma once
/// @file
/// Choosing the checkpoint to resume from: a corrupt or missing newest checkpoint (a torn disk,
/// a bit flip, a file removed by hand) falls back to the newest older one that loads, with a
/// warning, and never silently to a fresh start.

#include <string>
#include <vector>

namespace mmhook {

/// The checkpoint to resume from when `work_dir/last_checkpoint` names `newest`: `newest`
/// itself when it loads (`load_checkpoint_file`, checksum included); otherwise the newest other
/// checkpoint (`*.pth`, newest modification time first) in `newest`'s folder (or `fallback_dir`
/// when `newest` is empty) that loads. `best_*` files (saved without optimizer state) and the
/// temporary files of interrupted atomic writes are never candidates. Each file skipped adds a
/// line to `warnings` naming it and the reason. When no candidate loads: Error kCheckpoint
/// naming every file tried and why.
std::string select_resume_checkpoint(const std::string& newest, const std::string& fallback_dir,
                                     std::vector<std::string>& warnings);

}  // namespace mmhook
