#include "mmhook/checkpoint/resume.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

// A checkpoint file as a resume candidate: the iteration it records, or why it cannot be used.
struct Probe {
  std::string path;
  fs::file_time_type mtime{};
  int64_t iter = -1;
  std::string problem;  // empty when it loads and records meta.iter
};

Probe probe(const std::string& path, fs::file_time_type mtime) {
  Probe p;
  p.path = path;
  p.mtime = mtime;
  try {
    const Checkpoint ckpt = load_checkpoint_file(path);
    const auto meta = ckpt.meta();
    if (!meta.contains("iter") || !meta.at("iter").isInt()) {
      p.problem = "checkpoint '" + path + "': meta has no integer 'iter'";
    } else {
      p.iter = meta.at("iter").toInt();
    }
  } catch (const Error& e) {
    p.problem = e.what();
  }
  return p;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// `a` is a better resume point than `b`: more iterations, then the later write.
bool better(const Probe& a, const Probe& b) {
  if (a.iter != b.iter) return a.iter > b.iter;
  return a.mtime > b.mtime;
}

}  // namespace

std::string select_resume_checkpoint(const std::string& newest, const std::string& fallback_dir,
                                     std::vector<std::string>& warnings) {
  std::string tried;
  auto note_problem = [&](const std::string& problem) {
    tried += (tried.empty() ? "" : "; ") + problem;
  };
  std::optional<Probe> named;
  if (!newest.empty()) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(newest, ec);
    Probe p = probe(newest, ec ? fs::file_time_type::min() : mtime);
    if (p.problem.empty()) {
      named = std::move(p);
    } else {
      warnings.push_back("cannot resume from the newest checkpoint: " + p.problem);
      note_problem(p.problem);
    }
  }

  // The folders to search: last_checkpoint's (CheckpointHook's out_dir may differ from
  // work_dir) and the work_dir itself.
  std::vector<fs::path> dirs;
  if (!newest.empty())
    dirs.push_back(fs::path(newest).has_parent_path() ? fs::path(newest).parent_path()
                                                      : fs::path("."));
  if (!fallback_dir.empty()) {
    std::error_code ec;
    const bool same = !dirs.empty() && fs::equivalent(dirs.front(), fallback_dir, ec);
    if (!same) dirs.emplace_back(fallback_dir);
  }

  std::vector<std::pair<fs::file_time_type, std::string>> files;
  for (const fs::path& dir : dirs) {
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
      // With a loadable last_checkpoint only files written no earlier than it can be ahead of
      // it (a stop between a checkpoint's rename and last_checkpoint's update); opening every
      // older checkpoint would make each resume read the whole history.
      if (named && mtime < named->mtime) continue;
      files.emplace_back(mtime, p.string());
    }
  }
  // Newest writes first, so warnings list files in a stable, meaningful order.
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second > b.second;
  });

  std::optional<Probe> best = named;
  for (const auto& [mtime, path] : files) {
    Probe p = probe(path, mtime);
    if (!p.problem.empty()) {
      warnings.push_back("skipping a checkpoint that cannot be resumed from: " + p.problem);
      note_problem(p.problem);
      continue;
    }
    if (!best || better(p, *best)) best = std::move(p);
  }

  if (best && named && best->path == named->path) return best->path;
  if (best && named) {
    warnings.push_back("last_checkpoint names '" + named->path + "' (iteration " +
                       std::to_string(named->iter) + ") but '" + best->path +
                       "' records a later iteration (" + std::to_string(best->iter) +
                       "): resuming from it");
    return best->path;
  }
  if (best) {
    warnings.push_back("resuming from the previous good checkpoint '" + best->path +
                       "' instead (iteration " + std::to_string(best->iter) + ")");
    return best->path;
  }
  std::string where;
  for (const fs::path& dir : dirs) where += (where.empty() ? "'" : ", '") + dir.string() + "'";
  if (tried.empty() && newest.empty())
    MMHOOK_THROW(Code::kNotFound, "no checkpoint in ", where, " to resume from");
  MMHOOK_THROW(Code::kCheckpoint, "no checkpoint to resume from in ", where, ": ",
               tried.empty() ? std::string("none found") : tried);
}

std::string read_last_checkpoint(const std::string& work_dir, std::vector<std::string>& warnings) {
  const std::string marker = (fs::path(work_dir) / "last_checkpoint").string();
  std::error_code ec;
  if (!fs::exists(marker, ec)) {
    warnings.push_back("no last_checkpoint in '" + work_dir +
                       "': resuming from the checkpoint there with the most iterations");
    return "";
  }
  auto junk = [&](const std::string& why) {
    warnings.push_back("ignoring '" + marker + "' (" + why +
                       "): resuming from the checkpoint there with the most iterations");
    return std::string();
  };
  // A path, not a document: anything longer is junk, and reading it whole would be a waste.
  constexpr uintmax_t kMaxBytes = 4096;
  const uintmax_t size = fs::file_size(marker, ec);
  if (ec) return junk(ec.message());
  if (size > kMaxBytes) return junk("it is " + std::to_string(size) + " bytes, not a path");
  std::string text;
  try {
    text = read_text_file(marker);
  } catch (const Error& e) {
    return junk(e.what());
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.pop_back();
  if (text.empty()) return junk("it is empty");
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return junk("it holds control characters, not one path");
  }
  return text;
}

std::string find_resume_checkpoint(const std::string& work_dir,
                                   std::vector<std::string>& warnings) {
  const std::string newest = read_last_checkpoint(work_dir, warnings);
  return select_resume_checkpoint(newest, work_dir, warnings);
}

}  // namespace mmhook
