#include "mmhook/checkpoint/resume.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

// Why `path` cannot be resumed from, or "" when it loads.
std::string load_problem(const std::string& path) {
  try {
    (void)load_checkpoint_file(path);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

std::string select_resume_checkpoint(const std::string& newest, const std::string& fallback_dir,
                                     std::vector<std::string>& warnings) {
  std::string tried;
  if (!newest.empty()) {
    const std::string problem = load_problem(newest);
    if (problem.empty()) return newest;
    warnings.push_back("cannot resume from the newest checkpoint: " + problem);
    tried = problem;
  }
  const fs::path dir = newest.empty()                       ? fs::path(fallback_dir)
                       : fs::path(newest).has_parent_path() ? fs::path(newest).parent_path()
                                                            : fs::path(".");
  // Older checkpoints, newest first (ties: the larger name, e.g. iter_20 after iter_2).
  std::vector<std::pair<fs::file_time_type, std::string>> candidates;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    const std::string name = p.filename().string();
    std::error_code fec;
    if (!it->is_regular_file(fec) || p.extension() != ".pth") continue;
    if (starts_with(name, "best_") || starts_with(name, ".")) continue;
    if (!newest.empty() && fs::equivalent(p, fs::path(newest), fec)) continue;
    const auto mtime = fs::last_write_time(p, fec);
    if (fec) continue;
    candidates.emplace_back(mtime, p.string());
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    if (a.second.size() != b.second.size()) return a.second.size() > b.second.size();
    return a.second > b.second;
  });
  for (const auto& c : candidates) {
    const std::string problem = load_problem(c.second);
    if (problem.empty()) {
      warnings.push_back("resuming from the previous good checkpoint '" + c.second + "' instead");
      return c.second;
    }
    warnings.push_back("cannot resume from an older checkpoint either: " + problem);
    tried += (tried.empty() ? "" : "; ") + problem;
  }
  MMHOOK_THROW(Code::kCheckpoint, "no checkpoint to resume from in '", dir.string(),
               "': ", tried.empty() ? std::string("none found") : tried);
}

}  // namespace mmhook
