#include "plot.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <locale>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"

namespace mmhook::app {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One named series of (step, value) points.
using Series = std::map<std::string, std::vector<std::pair<double, double>>>;

struct Scalars {
  Series loss, lr, val;
  size_t train_records = 0;
  size_t skipped_lines = 0;
};

Scalars read_scalars(const std::string& path) {
  std::ifstream in(path);
  if (!in) MMHOOK_THROW(Code::kIo, "cannot open '", path, "': ", std::strerror(errno));
  Scalars s;
  double last_train_step = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json rec = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!rec.is_object() || !rec.contains("step") || !rec["step"].is_number()) {
      ++s.skipped_lines;  // e.g. the last line of a run killed while writing
      continue;
    }
    const double step = rec["step"].get<double>();
    bool is_train = false;
    for (const auto& [k, v] : rec.items())
      if (v.is_number() && (k.find("loss") != std::string::npos || k == "lr")) is_train = true;
    if (is_train) {
      ++s.train_records;
      last_train_step = step;
      for (const auto& [k, v] : rec.items()) {
        if (!v.is_number()) continue;
        if (k.find("loss") != std::string::npos)
          s.loss[k].emplace_back(step, v.get<double>());
        else if (ends_with(k, "lr"))
          s.lr[k].emplace_back(step, v.get<double>());
      }
    } else {
      for (const auto& [k, v] : rec.items()) {
        if (!v.is_number() || k == "step" || k == "time" || k == "data_time") continue;
        s.val[k].emplace_back(last_train_step, v.get<double>());
      }
    }
  }
  return s;
}

// A legend or title as gnuplot will see it. The text comes from data (any hook can log any
// key; folder names are anyone's), and gnuplot ends a quoted string at a newline and runs a
// following `!` line in a shell, so nothing is escaped and pasted: only characters that mean
// nothing inside a single-quoted string of a `noenhanced` terminal are kept (no quote,
// backslash, `@`, `$`, backtick, `!`, control or non-ASCII byte; a run of them becomes one
// space), long names are cut, and a name with nothing left becomes `fallback`.
std::string safe_label(const std::string& text, const std::string& fallback) {
  constexpr size_t kMaxChars = 60;
  static const std::string kPunctuation = " _./:+=-";
  std::string out;
  for (const char c : text) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      kPunctuation.find(c) != std::string::npos;
    if (!keep && (out.empty() || out.back() == ' ')) continue;
    if (out.size() == kMaxChars) {
      out += "...";
      break;
    }
    out += keep ? c : ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? fallback : out;
}

// A removed-on-exit private directory (mode 0700) for the script, the data and the image, so
// that the script names only files this program chose.
class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string templ = (base / "mmhook-plot-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr)
      MMHOOK_THROW(Code::kIo, "cannot create a temporary directory in '", base.string(),
                   "': ", std::strerror(errno));
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.flush();
  if (!f) MMHOOK_THROW(Code::kIo, "cannot write '", path.string(), "': ", std::strerror(errno));
}

// One panel of the multiplot; `data_files` counts the d<N>.dat files written so far. On a log
// axis the points <= 0 are left out (a learning rate of exactly 0 is common at the start of a
// warmup); when no positive point is left the panel is drawn on a linear axis instead. Returns
// false, writing nothing, when the panel has no point to draw.
bool add_panel(std::ostringstream& gp, const fs::path& dir, const Series& series,
               const std::string& name, const std::string& ylabel, bool log_y, int& data_files) {
  bool any_positive = false;
  for (const auto& entry : series)
    for (const auto& point : entry.second)
      any_positive = any_positive || (point.second > 0 && std::isfinite(point.second));
  log_y = log_y && any_positive;
  std::vector<std::string> plots;
  size_t not_positive = 0;
  int index = 0;
  for (const auto& [key, points] : series) {
    ++index;
    std::ostringstream data;
    data.imbue(std::locale::classic());
    data.precision(17);
    size_t n = 0;
    for (const auto& [x, y] : points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if (log_y && y <= 0) {
        ++not_positive;
        continue;
      }
      data << x << ' ' << y << '\n';
      ++n;
    }
    if (n == 0) continue;
    const std::string file = "d" + std::to_string(data_files++) + ".dat";
    write_file(dir / file, data.str());
    plots.push_back("'" + file + "' using 1:2 with " + (n < 30 ? "linespoints" : "lines") +
                    " lw 1.5 title '" + safe_label(key, "series " + std::to_string(index)) + "'");
  }
  if (plots.empty()) return false;
  std::string title = name;
  if (not_positive > 0)
    title += " (" + std::to_string(not_positive) + " points <= 0 left out of the log scale)";
  gp << "set title '" << title << "'\nset ylabel '" << ylabel << "'\n"
     << (log_y ? "set logscale y\n" : "unset logscale y\n") << "plot ";
  for (size_t i = 0; i < plots.size(); ++i) gp << (i ? ", " : "") << plots[i];
  gp << '\n';
  return true;
}

// The executable `name` would run as from PATH, searched here rather than by the child so that
// the child between fork and exec only makes async-signal-safe calls. Empty when none; an
// empty PATH entry (the current directory) is not searched.
std::string find_on_path(const std::string& name) {
  const char* env = std::getenv("PATH");
  const std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(begin, end - begin);
    begin = end + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// Runs gnuplot on `script` (a name inside `dir`) with `dir` as its working directory and stdin
// from /dev/null; its messages go to our stderr. Errors name what went wrong.
void run_gnuplot(const fs::path& dir, const std::string& script) {
  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty())
    MMHOOK_THROW(Code::kUnavailable,
                 "mmhook plot needs gnuplot, which is not on PATH "
                 "(install it: apt-get install gnuplot-nox)");
  const std::string cwd = dir.string();
  const char* argv[] = {"gnuplot", script.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) MMHOOK_THROW(Code::kUnavailable, "cannot start gnuplot: ", std::strerror(errno));
  if (pid == 0) {
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    if (::chdir(cwd.c_str()) == 0) ::execv(gnuplot.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) MMHOOK_THROW(Code::kInternal, "waitpid(gnuplot): ", std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    MMHOOK_THROW(Code::kInternal, "gnuplot ('", gnuplot, "') failed (",
                 WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                   : "signal " + std::to_string(WTERMSIG(status)),
                 "); its messages are above");
}

// Moves the image to `out`: a rename where it can be, else a copy (another file system).
void move_image(const fs::path& from, const std::string& out) {
  if (std::rename(from.c_str(), out.c_str()) == 0) return;
  const int err = errno;
  if (err == EXDEV) {
    std::error_code ec;
    fs::copy_file(from, out, fs::copy_options::overwrite_existing, ec);
    if (!ec) return;
    MMHOOK_THROW(Code::kIo, "cannot write the plot to '", out, "': ", ec.message());
  }
  MMHOOK_THROW(Code::kIo, "cannot write the plot to '", out, "': ", std::strerror(err));
}

}  // namespace

std::string find_scalars_file(const std::string& work_dir) {
  std::error_code ec;
  if (!fs::is_directory(work_dir, ec))
    MMHOOK_THROW(Code::kNotFound, "work dir '", work_dir, "': no such directory");
  const fs::path direct = fs::path(work_dir) / "vis_data" / "scalars.json";
  if (fs::is_regular_file(direct, ec)) return direct.string();
  std::string best_run;
  for (const auto& entry : fs::directory_iterator(work_dir, ec)) {
    const fs::path candidate = entry.path() / "vis_data" / "scalars.json";
    const std::string run = entry.path().filename().string();
    std::error_code ec2;
    if (entry.is_directory(ec2) && fs::is_regular_file(candidate, ec2) && run > best_run)
      best_run = run;
  }
  if (best_run.empty())
    MMHOOK_THROW(Code::kNotFound, "work dir '", work_dir,
                 "' has no <timestamp>/vis_data/scalars.json "
                 "(train with LoggerHook and the default LocalVisBackend first)");
  return (fs::path(work_dir) / best_run / "vis_data" / "scalars.json").string();
}

std::string plot_work_dir(const std::string& work_dir, const std::string& out_png) {
  const std::string scalars_path = find_scalars_file(work_dir);
  const Scalars s = read_scalars(scalars_path);
  if (s.train_records == 0)
    MMHOOK_THROW(Code::kNotFound, "'", scalars_path, "' has no training records (loss, lr)");
  std::string out = out_png.empty() ? (fs::path(work_dir) / "plot.png").string() : out_png;

  // Nothing from the data reaches the script but numbers (in data files it names) and
  // safe_label() text; the image and data files have fixed names inside a private directory
  // that is gnuplot's working directory, so no path is pasted either.
  const ScratchDir scratch;
  std::ostringstream panels_gp;
  panels_gp.imbue(std::locale::classic());
  int data_files = 0;
  int panels = 0;
  panels +=
      add_panel(panels_gp, scratch.path(), s.loss, "training loss", "loss", false, data_files);
  panels += add_panel(panels_gp, scratch.path(), s.lr, "learning rate", "lr", true, data_files);
  panels += add_panel(panels_gp, scratch.path(), s.val, "validation", "metric", false, data_files);
  if (panels == 0)
    MMHOOK_THROW(Code::kNotFound, "'", scalars_path, "' has no finite loss or lr values to plot");

  const fs::path run_dir = fs::path(scalars_path).parent_path().parent_path();
  const std::string title =
      safe_label((run_dir.parent_path().filename() / run_dir.filename()).string(), "");
  std::ostringstream gp;
  gp.imbue(std::locale::classic());
  gp << "set terminal pngcairo size 1000," << 330 * panels << " noenhanced font ',10'\n"
     << "set output 'plot.png'\n"
     << "set grid\nset key top right\nset xlabel 'step (iteration)'\n"
     << "set multiplot layout " << panels << ",1 title '" << title << "'\n"
     << panels_gp.str() << "unset multiplot\nset output\n";
  write_file(scratch.path() / "plot.gp", gp.str());
  run_gnuplot(scratch.path(), "plot.gp");
  const fs::path image = scratch.path() / "plot.png";
  std::error_code ec;
  if (!fs::is_regular_file(image, ec) || fs::file_size(image, ec) == 0)
    MMHOOK_THROW(Code::kIo, "gnuplot wrote no image");
  move_image(image, out);
  if (s.skipped_lines > 0)
    std::fprintf(stderr, "mmhook plot: skipped %zu malformed line(s) of '%s'\n", s.skipped_lines,
                 scalars_path.c_str());
  return out;
}

}  // namespace mmhook::app
