#pragma once
/// @file
/// ProgressBarHook: a tqdm-style bar per train epoch (or over all iterations in iteration-based
/// training) and per val/test pass, with rate (it/s), elapsed time and ETA, as Lightning's
/// TQDMProgressBar shows. It draws only when the output is a terminal (`isatty`) unless `force`.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iosfwd>
#include <string>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// ProgressBarHook options.
struct ProgressBarHookOptions {
  int64_t refresh_interval = 1;    ///< redraw every n iterations (>= 1); the last one always draws
  bool force = false;              ///< draw even when the output is not a terminal
  int64_t bar_width = 20;          ///< characters inside the bar (>= 1)
  FILE* file = stdout;             ///< output when `stream` is null (terminal check: isatty)
  std::ostream* stream = nullptr;  ///< output for tests; never a terminal, so needs `force`
};

/// One rendered bar line, without "\r" or newline:
/// `<label>: 50%|##########          | 2/4 [00:01<00:01, 2.00it/s, loss=0.1235]`.
/// `elapsed_s` is the time since the bar started at `start_n`; rate = (n - start_n) / elapsed
/// ("?it/s" while that is 0; "s/it" below 1 it/s), ETA = (total - n) / rate ("?" when unknown).
/// `total <= 0` draws no percentage, bar or ETA.
std::string render_progress_bar(const std::string& label, int64_t n, int64_t total,
                                double elapsed_s, int64_t bar_width,
                                const std::string& postfix = "", int64_t start_n = 0);
/// `MM:SS`, or `H:MM:SS` from one hour on (tqdm's format_interval).
std::string format_interval(double seconds);

/// Draws progress bars (priority BELOW_NORMAL).
class ProgressBarHook : public HookImpl<ProgressBarHook> {
 public:
  /// Validates the options (Errors name option and value).
  explicit ProgressBarHook(ProgressBarHookOptions options = {});
  std::string type_name() const override { return "ProgressBarHook"; }
  int default_priority() const override { return get_priority(Priority::kBelowNormal); }
  void before_train_epoch(Runner& runner) override;
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void after_train_epoch(Runner& runner) override;
  void after_train(Runner& runner) override;
  void before_val_epoch(Runner& runner) override;
  void after_val_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                      const TensorDict& outputs) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  void before_test_epoch(Runner& runner) override;
  void after_test_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                       const TensorDict& outputs) override;
  void after_test_epoch(Runner& runner, const Metrics& metrics) override;
  /// Ends a half-drawn line so the error message starts on its own line.
  void on_exception(Runner& runner, const std::string& message) override;

  /// Whether this hook draws (force, or a terminal output).
  bool enabled() const { return enabled_; }
  /// Number of bar lines drawn so far.
  int64_t draws() const { return draws_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Bar {
    bool open = false;
    std::string label;
    int64_t n = 0;
    int64_t total = 0;
    int64_t start_n = 0;  // n when the bar started (resumed iteration runs)
    Clock::time_point start;
  };
  void open(Bar& bar, std::string label, int64_t n, int64_t total);
  void advance(Bar& bar, const std::string& postfix);
  void close(Bar& bar, const std::string& postfix);
  void draw(const Bar& bar, const std::string& postfix);
  void write(const std::string& text);

  ProgressBarHookOptions options_;
  bool enabled_ = false;
  int64_t draws_ = 0;
  Bar train_;
  Bar eval_;
  std::string train_postfix_;     // last train postfix (shown again when the bar closes)
  const Bar* on_line_ = nullptr;  // the bar whose line is not yet ended by a newline
};

}  // namespace mmhook
