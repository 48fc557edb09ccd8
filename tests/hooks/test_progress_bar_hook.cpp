// ProgressBarHook: the rendered line (percentage, bar, counts, elapsed<ETA, rate, postfix),
// the draws over a toy run (refresh_interval, one line per epoch and pass), and silence when
// the output is not a terminal.

#include <cstdio>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"
#include "mmhook/hooks/progress_bar_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {
using testing::TempDir;

TEST(ProgressBarHookTest, RendersPercentBarCountsEtaAndRate) {
  EXPECT_EQ(render_progress_bar("Epoch 1/2", 2, 4, 1.0, 10, "loss=0.5"),
            "Epoch 1/2:  50%|#####     | 2/4 [00:01<00:01, 2.00it/s, loss=0.5]");
  EXPECT_EQ(render_progress_bar("Val", 0, 4, 0.0, 4), "Val:   0%|    | 0/4 [00:00<?, ?it/s]");
  EXPECT_EQ(render_progress_bar("Val", 4, 4, 0.5, 4),
            "Val: 100%|####| 4/4 [00:00<00:00, 8.00it/s]");
  // Below 1 it/s the rate is shown as seconds per iteration; ETA = 3 left * 4 s.
  EXPECT_EQ(render_progress_bar("Train", 1, 4, 4.0, 8),
            "Train:  25%|##      | 1/4 [00:04<00:12, 4.00s/it]");
  // A resumed bar counts its rate from where it started: 2 iterations in 1 s.
  EXPECT_EQ(render_progress_bar("Iter", 7, 12, 1.0, 12, "", 5),
            "Iter:  58%|#######     | 7/12 [00:01<00:02, 2.00it/s]");
  EXPECT_EQ(render_progress_bar("", 3, 0, 1.5, 10), "3it [00:01, 2.00it/s]");
}

TEST(ProgressBarHookTest, FormatsIntervalsLikeTqdm) {
  EXPECT_EQ(format_interval(0), "00:00");
  EXPECT_EQ(format_interval(59.9), "00:59");
  EXPECT_EQ(format_interval(125), "02:05");
  EXPECT_EQ(format_interval(3725), "1:02:05");
}

TEST(ProgressBarHookTest, RejectsBadOptions) {
  ProgressBarHookOptions o;
  o.refresh_interval = 0;
  try {
    ProgressBarHook hook(o);
    FAIL() << "no error raised";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ProgressBarHook.refresh_interval"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos);
  }
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  try {
    runner.register_hook(nlohmann::json{{"type", "ProgressBarHook"}, {"refresh_interval", 0}});
    FAIL() << "no error raised";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
  }
}

struct Draw {
  std::string label;
  int64_t n;
  int64_t total;
  std::string postfix;
};

// Splits the output into its drawn lines ("\r<line>"), keeping label, count and postfix.
std::vector<Draw> parse_draws(const std::string& text) {
  static const std::regex kLine(
      R"(^(.*): +\d+%\|[# ]*\| (\d+)/(\d+) \[\d\d:\d\d<(?:\d\d:\d\d|\?), (?:\?it/s|[0-9.]+(?:it/s|s/it))(?:, (.*))?\]$)");
  std::vector<Draw> draws;
  std::string piece;
  auto flush = [&] {
    if (piece.empty()) return;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(piece, m, kLine)) << "unexpected line: " << piece;
    if (!m.empty()) draws.push_back({m[1], std::stoll(m[2]), std::stoll(m[3]), m[4]});
    piece.clear();
  };
  for (char c : text) {
    if (c == '\r' || c == '\n') {
      flush();
    } else {
      piece += c;
    }
  }
  flush();
  return draws;
}

TEST(ProgressBarHookTest, EpochRunDrawsEachEpochAndValPass) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));  // 2 epochs x 4 iters, val each epoch
  std::ostringstream out;
  ProgressBarHookOptions o;
  o.force = true;
  o.refresh_interval = 2;
  o.stream = &out;
  auto hook = std::make_shared<ProgressBarHook>(o);
  runner.register_hook(hook);
  runner.train();

  const std::string text = out.str();
  const std::vector<Draw> draws = parse_draws(text);
  std::vector<std::string> seq;
  seq.reserve(draws.size());
  for (const Draw& d : draws)
    seq.push_back(d.label + " " + std::to_string(d.n) + "/" + std::to_string(d.total));
  // Opening draw, every 2nd iteration, and the closing draw of each bar.
  const std::vector<std::string> expected = {
      "Epoch 1/2 0/4", "Epoch 1/2 2/4", "Epoch 1/2 4/4", "Epoch 1/2 4/4",
      "Val 0/4",       "Val 2/4",       "Val 4/4",       "Val 4/4",
      "Epoch 2/2 0/4", "Epoch 2/2 2/4", "Epoch 2/2 4/4", "Epoch 2/2 4/4",
      "Val 0/4",       "Val 2/4",       "Val 4/4",       "Val 4/4"};
  EXPECT_EQ(seq, expected) << text;
  EXPECT_EQ(hook->draws(), 16);
  // One finished line per bar: each ends with a newline.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
  ASSERT_EQ(draws.size(), 16u);
  EXPECT_EQ(draws[0].postfix, "");
  EXPECT_EQ(draws[1].postfix.rfind("loss=", 0), 0u) << draws[1].postfix;  // train loss shown
  EXPECT_EQ(draws[3].postfix, draws[2].postfix);                          // kept at the close
  EXPECT_NE(draws[7].postfix.find("acc="), std::string::npos) << draws[7].postfix;  // val metrics
}

TEST(ProgressBarHookTest, IterRunDrawsOneBarOverAllIterations) {
  TempDir dir;
  Runner runner(testing::iter_config(dir.path()));  // 12 iters, val every 4
  std::ostringstream out;
  ProgressBarHookOptions o;
  o.force = true;
  o.refresh_interval = 4;
  o.stream = &out;
  runner.register_hook(std::make_shared<ProgressBarHook>(o));
  runner.train();
  std::vector<int64_t> iter_counts;
  int val_bars = 0;
  for (const Draw& d : parse_draws(out.str())) {
    if (d.label == "Iter") {
      EXPECT_EQ(d.total, 12);
      iter_counts.push_back(d.n);
    }
    if (d.label == "Val" && d.n == 0) ++val_bars;
  }
  EXPECT_EQ(iter_counts, (std::vector<int64_t>{0, 4, 8, 12, 12})) << out.str();
  EXPECT_EQ(val_bars, 3);
  // A val bar interrupting the train bar starts on its own line: each line holds one bar.
  std::istringstream lines(out.str());
  int line_count = 0;
  for (std::string line; std::getline(lines, line); ++line_count) {
    const std::vector<Draw> on_line = parse_draws(line);
    ASSERT_FALSE(on_line.empty());
    for (const Draw& d : on_line) EXPECT_EQ(d.label, on_line.front().label) << line;
  }
  EXPECT_EQ(line_count, 7);  // Iter 0-4, Val, Iter 8, Val, Iter 12, Val, Iter 12 (close)
  EXPECT_EQ(out.str().back(), '\n');
}

class FailAtSecondIter : public HookImpl<FailAtSecondIter> {
 public:
  void after_train_iter(Runner&, int64_t batch_idx, const TensorDict&, const TensorDict&) override {
    if (batch_idx == 1) throw std::runtime_error("boom");
  }
};

TEST(ProgressBarHookTest, FailureEndsTheOpenLine) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  std::ostringstream out;
  ProgressBarHookOptions o;
  o.force = true;
  o.stream = &out;
  runner.register_hook(std::make_shared<ProgressBarHook>(o));
  runner.register_hook(std::make_shared<FailAtSecondIter>(), 10);
  EXPECT_THROW(runner.train(), Error);
  const std::vector<Draw> draws = parse_draws(out.str());
  // 0/4 and 1/4: at the second iteration the failing hook (priority 10) runs before the bar.
  ASSERT_EQ(draws.size(), 2u) << out.str();
  EXPECT_EQ(draws.back().n, 1);
  const std::string text = out.str();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(ProgressBarHookTest, SilentWhenNotATerminal) {
  TempDir dir;
  {
    Runner runner(testing::epoch_config(dir.path()));
    std::ostringstream out;
    ProgressBarHookOptions o;
    o.stream = &out;  // a stream is never a terminal
    auto hook = std::make_shared<ProgressBarHook>(o);
    EXPECT_FALSE(hook->enabled());
    runner.register_hook(hook);
    runner.train();
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(hook->draws(), 0);
  }
  {
    TempDir dir2;
    Runner runner(testing::epoch_config(dir2.path()));
    FILE* file = std::tmpfile();  // a regular file: isatty() is false
    ASSERT_NE(file, nullptr);
    ProgressBarHookOptions o;
    o.file = file;
    auto hook = std::make_shared<ProgressBarHook>(o);
    EXPECT_FALSE(hook->enabled());
    runner.register_hook(hook);
    runner.train();
    std::fflush(file);
    EXPECT_EQ(std::ftell(file), 0L);
    o.force = true;
    EXPECT_TRUE(ProgressBarHook(o).enabled());
    std::fclose(file);
  }
}

}  // namespace
}  // namespace mmhook
