#include "plot.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"

extern char** environ;

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

// gnuplot single-quoted string: a quote is doubled.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void add_panel(std::ostringstream& gp, const Series& series, const std::string& name,
               const std::string& ylabel, bool log_y, int& block) {
  std::vector<std::string> plots;
  for (const auto& [key, points] : series) {
    const std::string data = "$d" + std::to_string(block++);
    gp << data << " << EOD\n";
    for (const auto& [x, y] : points) gp << x << ' ' << y << '\n';
    gp << "EOD\n";
    plots.push_back(data + " using 1:2 with " + (points.size() < 30 ? "linespoints" : "lines") +
                    " lw 1.5 title " + gp_quote(key));
  }
  gp << "set title " << gp_quote(name) << "\nset ylabel " << gp_quote(ylabel) << '\n'
     << (log_y ? "set logscale y\n" : "unset logscale y\n") << "plot ";
  for (size_t i = 0; i < plots.size(); ++i) gp << (i ? ", " : "") << plots[i];
  gp << '\n';
}

// Runs `gnuplot script`; errors name what went wrong.
void run_gnuplot(const std::string& script) {
  const char* argv[] = {"gnuplot", script.c_str(), nullptr};
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, "gnuplot", nullptr, nullptr, const_cast<char* const*>(argv), environ);
  if (rc == ENOENT)
    MMHOOK_THROW(Code::kUnavailable,
                 "mmhook plot needs gnuplot, which is not on PATH "
                 "(install it: apt-get install gnuplot-nox)");
  if (rc != 0) MMHOOK_THROW(Code::kUnavailable, "cannot start gnuplot: ", std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) MMHOOK_THROW(Code::kInternal, "waitpid(gnuplot): ", std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    MMHOOK_THROW(Code::kInternal, "gnuplot failed (",
                 WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                   : "signal " + std::to_string(WTERMSIG(status)),
                 ") on the generated script '", script, "'");
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
  const int panels = 1 + (s.lr.empty() ? 0 : 1) + (s.val.empty() ? 0 : 1);

  std::ostringstream gp;
  gp.precision(10);
  gp << "set terminal pngcairo size 1000," << 330 * panels << " noenhanced font ',10'\n"
     << "set output " << gp_quote(out) << '\n'
     << "set grid\nset key top right\nset xlabel 'step (iteration)'\n"
     << "set multiplot layout " << panels << ",1 title "
     << gp_quote(fs::path(scalars_path).parent_path().parent_path().string()) << '\n';
  int block = 0;
  add_panel(gp, s.loss, "training loss", "loss", false, block);
  if (!s.lr.empty()) add_panel(gp, s.lr, "learning rate", "lr", true, block);
  if (!s.val.empty()) add_panel(gp, s.val, "validation", "metric", false, block);
  gp << "unset multiplot\nset output\n";

  const std::string script = out + ".gp";
  {
    std::ofstream f(script, std::ios::trunc);
    f << gp.str();
    f.flush();
    if (!f) MMHOOK_THROW(Code::kIo, "cannot write '", script, "': ", std::strerror(errno));
  }
  std::error_code ec;
  fs::remove(out, ec);
  try {
    run_gnuplot(script);
  } catch (...) {
    fs::remove(out, ec);
    throw;  // the script stays for inspection
  }
  fs::remove(script, ec);
  if (!fs::is_regular_file(out, ec) || fs::file_size(out, ec) == 0)
    MMHOOK_THROW(Code::kIo, "gnuplot wrote no image to '", out, "'");
  if (s.skipped_lines > 0)
    std::fprintf(stderr, "mmhook plot: skipped %zu malformed line(s) of '%s'\n", s.skipped_lines,
                 scalars_path.c_str());
  return out;
}

}  // namespace mmhook::app
