// `mmhook plot` on hostile input: scalar names (any hook, C/Rust/Go included, can log any key),
// run and work folder names and output paths reach the plot only as data. Each injection attempt
// below would create a marker file if any of that text were run by gnuplot or a shell; the
// tests assert that no marker appears and that the PNG is still written. Also the edge cases
// of the data itself: a learning rate of exactly 0 on the log-scale panel, a run with no loss
// series, a single point.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/cli_process.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::kMmhook;
using testing::read_all;
using testing::TempDir;

const std::string kPngSignature("\x89PNG\r\n\x1a\n", 8);

struct Result {
  int status = -1;     // exit status, or 128 + signal
  std::string output;  // stdout + stderr
};

// Everything one hostile plot run needs: where markers would land, the child's current
// directory and its TMPDIR (both must stay empty), and the environment variable that lets a
// folder name, which cannot contain '/', name an absolute marker path through the shell.
struct Sandbox {
  TempDir dir;
  std::string markers = dir / "markers";
  std::string cwd = dir / "cwd";
  std::string tmp = dir / "tmp";
  Sandbox() {
    fs::create_directories(markers);
    fs::create_directories(cwd);
    fs::create_directories(tmp);
  }
  // `touch` of an absolute marker path, as gnuplot's `!` or system() would run it.
  std::string touch(const std::string& name) const { return "touch " + markers + "/" + name; }

  std::vector<std::string> created_markers() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(markers)) out.push_back(e.path().filename());
    return out;
  }
};

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// Runs the mmhook command with `args` as its argv (no shell in between: the arguments hold
// newlines and quotes), in `box.cwd`, with TMPDIR=box.tmp and MMHOOK_TEST_MARK=box.markers/.
Result run_mmhook(const Sandbox& box, const std::vector<std::string>& args) {
  std::vector<std::string> env_strings = {"TMPDIR=" + box.tmp,
                                          "MMHOOK_TEST_MARK=" + box.markers + "/"};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (kv.rfind("TMPDIR=", 0) != 0 && kv.rfind("MMHOOK_TEST_MARK=", 0) != 0)
      env_strings.push_back(kv);
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {kMmhook};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string log = box.dir / "output.txt";

  Result r;
  const pid_t pid = ::fork();
  if (pid < 0) return r;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || null_fd < 0 || ::chdir(box.cwd.c_str()) != 0) ::_exit(126);
    ::dup2(null_fd, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.output = read_all(log);
  return r;
}

// Writes `lines` (one JSON record each, or raw text) as `run_dir/vis_data/scalars.json`.
void write_scalars(const std::string& run_dir, const std::vector<std::string>& lines) {
  fs::create_directories(run_dir + "/vis_data");
  std::ofstream out(run_dir + "/vis_data/scalars.json", std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s.at(at + i));
  return v;
}

// The PNG at `path`: its signature, and its height in panels (the plot is 330 px per panel).
void expect_png(const std::string& path, uint32_t panels, const Result& r) {
  const std::string png = read_all(path);
  ASSERT_GT(png.size(), 24u) << "no PNG at '" << path << "'; output:\n" << r.output;
  EXPECT_EQ(png.substr(0, 8), kPngSignature) << r.output;
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(png, 16), 1000u);
  EXPECT_EQ(be32(png, 20), panels * 330u) << r.output;
}

void expect_nothing_ran(const Sandbox& box, const Result& r) {
  std::string created;
  for (const auto& m : box.created_markers()) created += " '" + m + "'";
  EXPECT_TRUE(created.empty()) << "injected commands ran, markers:" << created << "\noutput:\n"
                               << r.output;
  EXPECT_TRUE(entries(box.cwd).empty()) << "files left in the current directory";
  EXPECT_TRUE(entries(box.tmp).empty()) << "the private temporary directory was left behind";
}

// Parts of scalar names built to break out of a quoted gnuplot string (newline, CR), to close
// the quote (' and "), and to reach a shell or gnuplot's own evaluation (`, !, $(...), system(),
// @), plus control bytes, non-ASCII and a 10 kB name.
std::vector<std::string> hostile_parts(const Sandbox& box, const std::string& tag) {
  const auto t = [&](const std::string& what) { return box.touch(tag + "_" + what); };
  return {
      "\n!" + t("newline") + "\n#",
      "\r!" + t("cr") + "\r#",
      "\r\n!" + t("crlf") + "\r\n#",
      "'\n!" + t("quote_newline") + "\n#",
      "' . system('" + t("single_quote") + "') . '",
      "\" . system(\"" + t("double_quote") + "\") . \"",
      "`" + t("backtick") + "`",
      " $(" + t("dollar") + ")",
      " system(\"" + t("system") + "\")",
      " @x !" + t("bang") + " \\",
      "\\\n!" + t("backslash_newline") + "\n",
      std::string("\x01\x1b[2J\x7f", 6),
      "\xc3\xbf\xc3\xbe\xe2\x80\xa8",  // UTF-8 of U+00FF U+00FE (bytes 0xff 0xfe), U+2028
      std::string(10000, 'A') + "\n!" + t("10kB") + "\n#",
  };
}

TEST(PlotHostileTest, ScalarNamesAreNeverRun) {
  Sandbox box;
  const std::string work = box.dir / "work";
  // A loss is any train key containing "loss", a learning rate a train key ending in "lr", a
  // validation metric any key of a record with neither.
  std::vector<std::string> loss_keys, lr_keys, val_keys;
  for (const auto& p : hostile_parts(box, "loss")) loss_keys.push_back("loss" + p);
  for (const auto& p : hostile_parts(box, "lr")) lr_keys.push_back(p + "lr");
  for (const auto& p : hostile_parts(box, "val")) val_keys.push_back("acc" + p);
  val_keys.push_back(std::string("\x01\x02\x7f", 3));  // nothing printable at all
  std::vector<std::string> lines;
  for (int step = 1; step <= 6; ++step) {
    nlohmann::json rec = {{"step", step}, {"lr", 0.1}, {"loss", 1.0 / step}};
    for (size_t i = 0; i < loss_keys.size(); ++i) rec[loss_keys[i]] = 0.1 * static_cast<double>(i);
    for (size_t i = 0; i < lr_keys.size(); ++i) rec[lr_keys[i]] = 0.01 * static_cast<double>(i + 1);
    lines.push_back(rec.dump());
    if (step % 3 == 0) {
      nlohmann::json val = {{"step", step / 3}, {"accuracy", 50.0 + step}};
      for (size_t i = 0; i < val_keys.size(); ++i) val[val_keys[i]] = static_cast<double>(i);
      lines.push_back(val.dump());
    }
  }
  // A line whose key is not valid UTF-8 is not JSON: skipped, and never drawn.
  lines.push_back("{\"step\": 7, \"loss\xff\xfe `" + box.touch("raw_bytes") + "`\": 0.5}");
  write_scalars(work + "/20260101_000000", lines);

  const std::string out = box.dir / "out.png";
  const Result r = run_mmhook(box, {"plot", work, "-o", out});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(out, 3, r);
  expect_nothing_ran(box, r);
  // Nothing but the image next to it (no generated script left behind).
  for (const auto& e : entries(box.dir.path()))
    EXPECT_TRUE(e == "out.png" || e == "work" || e == "markers" || e == "cwd" || e == "tmp" ||
                e == "output.txt")
        << "unexpected '" << e << "' next to the output";
}

TEST(PlotHostileTest, FolderNamesAndOutputPathAreNeverRun) {
  Sandbox box;
  // A folder name cannot hold '/', so it names the marker through the environment.
  const std::string work_name = "w\n!touch ${MMHOOK_TEST_MARK}work_dir\n#'\"`touch x`$(touch y)@";
  const std::string run_name =
      "20260101_000000\n!touch ${MMHOOK_TEST_MARK}run_dir\n#\r!touch ${MMHOOK_TEST_MARK}run_cr";
  const std::string work = box.dir / work_name;
  std::vector<std::string> lines;
  for (int step = 1; step <= 4; ++step)
    lines.push_back(nlohmann::json({{"step", step}, {"lr", 0.1}, {"loss", 1.0 / step}}).dump());
  write_scalars(work + "/" + run_name, lines);

  // The default output, WORK_DIR/plot.png, inside the hostile work dir.
  Result r = run_mmhook(box, {"plot", work});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(work + "/plot.png", 2, r);
  expect_nothing_ran(box, r);
  EXPECT_FALSE(fs::exists(work + "/plot.png.gp"));

  // An output file name of the same kind.
  const std::string out = box.dir / "o\n!touch ${MMHOOK_TEST_MARK}out\n#'.png";
  r = run_mmhook(box, {"plot", work + "/" + run_name, "-o", out});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(out, 2, r);
  expect_nothing_ran(box, r);
}

TEST(PlotHostileTest, ZeroLearningRateOnTheLogAxis) {
  Sandbox box;
  // Linear warmup from exactly 0: the zero point cannot be on a log axis, the rest is drawn.
  const std::string warmup = box.dir / "warmup";
  std::vector<std::string> lines;
  for (int step = 0; step <= 5; ++step)
    lines.push_back(
        nlohmann::json({{"step", step}, {"lr", 0.02 * step}, {"loss", 2.0 - 0.1 * step}}).dump());
  write_scalars(warmup + "/20260101_000000", lines);
  Result r = run_mmhook(box, {"plot", warmup});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(warmup + "/plot.png", 2, r);

  // Every learning rate 0 (or negative): still a panel, on a linear axis.
  const std::string zero = box.dir / "zero";
  lines.clear();
  for (int step = 1; step <= 5; ++step)
    lines.push_back(nlohmann::json({{"step", step},
                                    {"lr", 0.0},
                                    {"base_lr", step == 3 ? -1.0 : 0.0},
                                    {"loss", 1.0 / step}})
                        .dump());
  write_scalars(zero + "/20260101_000000", lines);
  r = run_mmhook(box, {"plot", zero});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(zero + "/plot.png", 2, r);
  expect_nothing_ran(box, r);
}

TEST(PlotHostileTest, SinglePointAndMissingSeries) {
  Sandbox box;
  // One training record, one validation record.
  const std::string one = box.dir / "one";
  write_scalars(one + "/20260101_000000",
                {R"({"step": 1, "lr": 0.1, "loss": 0.5})", R"({"step": 1, "accuracy": 12.5})"});
  Result r = run_mmhook(box, {"plot", one});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(one + "/plot.png", 3, r);

  // Only a learning rate was logged: no loss series, so the lr panel alone.
  const std::string lr_only = box.dir / "lr_only";
  write_scalars(lr_only + "/20260101_000000",
                {R"({"step": 1, "lr": 0.1})", R"({"step": 2, "lr": 0.05})"});
  r = run_mmhook(box, {"plot", lr_only});
  EXPECT_EQ(r.status, 0) << r.output;
  expect_png(lr_only + "/plot.png", 1, r);

  // No records at all: a clear error naming the file, and no image.
  const std::string empty = box.dir / "empty";
  write_scalars(empty + "/20260101_000000", {});
  r = run_mmhook(box, {"plot", empty});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("mmhook: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has no training records"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(empty + "/20260101_000000/vis_data/scalars.json"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(empty + "/plot.png"));
  expect_nothing_ran(box, r);
}

}  // namespace
}  // namespace mmhook
