#pragma once
/// @file
/// LoggerHook (BELOW_NORMAL): text log lines, `vis_data/scalars.json`, test metrics JSON and the
/// hook timing table (docs/design.md §B4.5, §A2, §A4).

#include <string>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// LoggerHook options (MMEngine's names and defaults).
struct LoggerHookOptions {
  int64_t interval = 10;             ///< log every n inner iterations
  bool ignore_last = true;           ///< skip the partial window at the end of an epoch
  int64_t interval_exp_name = 1000;  ///< log the experiment name every n iterations
  bool log_metric_by_epoch = true;   ///< val scalars' step: epoch (true) or iter
  std::string out_dir;  ///< copy the logs to out_dir/<basename(work_dir)> after the run
  std::vector<std::string> out_suffix = {".json", ".log", ".py", "yaml"};  ///< files to copy
  bool keep_local = true;  ///< keep the local copies when out_dir is set
};

/// Writes the log lines and scalars of every mode.
class LoggerHook : public HookImpl<LoggerHook> {
 public:
  /// Validates the options (Errors name option and value).
  explicit LoggerHook(LoggerHookOptions options = {});
  std::string type_name() const override { return "LoggerHook"; }
  int default_priority() const override { return get_priority(Priority::kBelowNormal); }
  void before_run(Runner& runner) override;
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  void after_val_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                      const TensorDict& outputs) override;
  void after_test_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                       const TensorDict& outputs) override;
  void after_val_epoch(Runner& runner, const Metrics& metrics) override;
  void after_test_epoch(Runner& runner, const Metrics& metrics) override;
  void after_run(Runner& runner) override;
  /// The options in use.
  const LoggerHookOptions& options() const { return options_; }

 private:
  void log_eval_iter(Runner& runner, int64_t batch_idx, Mode mode);
  LoggerHookOptions options_;
  std::string out_dir_;
};

}  // namespace mmhook
