#include "mmhook/hooks/logger_hook.h"

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/engine/hook_timing_json.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/log_processor.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/logging/vis_backend.h"

namespace fs = std::filesystem;

namespace mmhook {

LoggerHook::LoggerHook(LoggerHookOptions options) : options_(std::move(options)) {
  MMHOOK_CHECK(options_.interval > 0, "LoggerHook.interval must be > 0, got ", options_.interval);
  MMHOOK_CHECK(options_.interval_exp_name > 0, "LoggerHook.interval_exp_name must be > 0, got ",
               options_.interval_exp_name);
}

namespace {
LogContext make_context(Runner& runner, Mode mode, int64_t batch_idx, int64_t len) {
  LogContext ctx;
  ctx.mode = mode;
  ctx.batch_idx = batch_idx;
  ctx.epoch = runner.epoch();
  ctx.iter = runner.iter();
  ctx.max_epochs = runner.max_epochs();
  ctx.max_iters = runner.max_iters();
  ctx.dataloader_len = len;
  ctx.train_loop_built = runner.train_loop_built();
  return ctx;
}
}  // namespace

void LoggerHook::before_run(Runner& runner) {
  if (!options_.out_dir.empty())
    out_dir_ = (fs::path(options_.out_dir) / fs::path(runner.work_dir()).filename()).string();
}

void LoggerHook::after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict&,
                                  const TensorDict&) {
  const int64_t len = runner.train_loop().dataloader().size();
  // In iteration mode batch_idx is the global iter, as MMEngine passes it.
  const bool end = end_of_epoch(len, batch_idx);
  if (every_n_train_iters(runner, options_.interval_exp_name) || end)
    runner.logger().info("Exp name: " + runner.experiment_name());
  if (every_n_inner_iters(batch_idx, options_.interval) ||
      (end && (!options_.ignore_last || len <= options_.interval))) {
    auto [tag, line] = runner.log_processor().get_log_after_iter(
        runner.message_hub(), make_context(runner, Mode::kTrain, batch_idx, len));
    runner.logger().info(line);
    runner.check_log_errors();
    for (auto& backend : runner.vis_backends()) backend->add_scalars(tag, runner.iter() + 1);
  }
}

void LoggerHook::log_eval_iter(Runner& runner, int64_t batch_idx, Mode mode) {
  if (!every_n_inner_iters(batch_idx, options_.interval)) return;
  const int64_t len = mode == Mode::kVal ? runner.val_loop().dataloader().size()
                                         : runner.test_loop().dataloader().size();
  auto [tag, line] = runner.log_processor().get_log_after_iter(
      runner.message_hub(), make_context(runner, mode, batch_idx, len));
  runner.logger().info(line);
  runner.check_log_errors();
}

void LoggerHook::after_val_iter(Runner& runner, int64_t batch_idx, const TensorDict&,
                                const TensorDict&) {
  log_eval_iter(runner, batch_idx, Mode::kVal);
}

void LoggerHook::after_test_iter(Runner& runner, int64_t batch_idx, const TensorDict&,
                                 const TensorDict&) {
  log_eval_iter(runner, batch_idx, Mode::kTest);
}

void LoggerHook::after_val_epoch(Runner& runner, const Metrics&) {
  if (runner.val_loop().interrupted()) return;  // the loop logged why there are no metrics
  const int64_t len = runner.val_loop().dataloader().size();
  auto [tag, line] = runner.log_processor().get_log_after_epoch(
      runner.message_hub(), make_context(runner, Mode::kVal, len, len));
  runner.logger().info(line);
  runner.check_log_errors();
  const int64_t step = !runner.train_loop_built()     ? 0
                       : options_.log_metric_by_epoch ? runner.epoch()
                                                      : runner.iter();
  for (auto& backend : runner.vis_backends()) backend->add_scalars(tag, step);
}

void LoggerHook::after_test_epoch(Runner& runner, const Metrics&) {
  if (runner.test_loop().interrupted()) return;  // the loop logged why there are no metrics
  const int64_t len = runner.test_loop().dataloader().size();
  auto [tag, line] = runner.log_processor().get_log_after_epoch(
      runner.message_hub(), make_context(runner, Mode::kTest, len, len), true);
  runner.logger().info(line);
  runner.check_log_errors();
  if (runner.rank() == 0)
    write_file_atomic(runner.log_dir() + "/" + runner.timestamp() + ".json",
                      tag.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void LoggerHook::after_run(Runner& runner) {
  for (auto& backend : runner.vis_backends()) backend->close();
  // docs/design.md §A2: the costliest hooks as a table in the log, all figures in hook_timing.json.
  const auto timings = runner.dispatcher().timings();
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::ostringstream table;
  table << "Hook timing (costliest first; timing mode '"
        << hook_timing_mode_name(runner.dispatcher().timing_mode()) << "'):\n"
        << std::left << std::setw(28) << "hook" << std::setw(24) << "stage" << std::right
        << std::setw(10) << "calls" << std::setw(12) << "total ms" << std::setw(12) << "max ms";
  size_t rows = 0;
  for (const auto& t : timings) {
    out.push_back(hook_timing_to_json(t));
    if (rows++ < 10) {
      table << "\n"
            << std::left << std::setw(28) << t.hook << std::setw(24) << t.stage << std::right
            << std::setw(10) << t.calls << std::setw(12) << std::fixed << std::setprecision(3)
            << t.total_ms << std::setw(12) << t.max_ms;
    }
  }
  runner.logger().info(table.str());
  if (runner.rank() == 0)
    write_file_atomic(runner.work_dir() + "/hook_timing.json", out.dump(2) + "\n");
  runner.logger().flush();

  if (!out_dir_.empty() && runner.rank() == 0) {
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(runner.log_dir(), ec)) {
      if (!entry.is_regular_file()) continue;
      const std::string name = entry.path().filename().string();
      bool match = false;
      for (const auto& suffix : options_.out_suffix)
        match = match || (name.size() >= suffix.size() &&
                          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
      if (!match) continue;
      // MMEngine uploads to out_dir/<path relative to log_dir>.
      const fs::path rel = fs::relative(entry.path(), runner.log_dir());
      const fs::path dst = fs::path(out_dir_) / rel;
      fs::create_directories(dst.parent_path());
      fs::copy_file(entry.path(), dst, fs::copy_options::overwrite_existing);
      if (!options_.keep_local) fs::remove(entry.path());
    }
  }
}

void detail::register_logger_hook(Registry<Hook>& registry) {
  registry.add("LoggerHook", [](const ConfigNode& cfg) {
    LoggerHookOptions o;
    o.interval = cfg.get<int64_t>("interval", o.interval);
    o.ignore_last = cfg.get<bool>("ignore_last", o.ignore_last);
    o.interval_exp_name = cfg.get<int64_t>("interval_exp_name", o.interval_exp_name);
    o.log_metric_by_epoch = cfg.get<bool>("log_metric_by_epoch", o.log_metric_by_epoch);
    o.out_dir = cfg.get<std::string>("out_dir", o.out_dir);
    o.out_suffix = string_or_list(cfg, "out_suffix", o.out_suffix);
    o.keep_local = cfg.get<bool>("keep_local", o.keep_local);
    return std::make_shared<LoggerHook>(o);
  });
}

}  // namespace mmhook
