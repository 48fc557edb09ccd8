#include "mmhook/hooks/checkpoint_hook.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/message_hub.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::vector<int64_t> retention_after_save(std::deque<int64_t>& kept, int64_t step,
                                          int64_t max_keep) {
  std::vector<int64_t> drop;
  if (max_keep <= 0) return drop;
  if (!kept.empty() && kept.back() == step) return drop;
  while (static_cast<int64_t>(kept.size()) >= max_keep) {
    drop.push_back(kept.front());
    kept.pop_front();
  }
  kept.push_back(step);
  return drop;
}

std::string infer_rule(const std::string& key, const std::vector<std::string>& greater_keys,
                       const std::vector<std::string>& less_keys) {
  const std::string k = lower(key);
  for (const auto& g : greater_keys)
    if (k == lower(g)) return "greater";
  for (const auto& l : less_keys)
    if (k == lower(l)) return "less";
  for (const auto& g : greater_keys)
    if (k.find(lower(g)) != std::string::npos) return "greater";
  for (const auto& l : less_keys)
    if (k.find(lower(l)) != std::string::npos) return "less";
  MMHOOK_THROW(Code::kInvalidArgument, "Cannot infer the rule for key '", key,
               "', thus a specific rule must be specified.");
}

bool is_better(const std::string& rule, double value, double best) {
  return rule == "greater" ? value > best : value < best;
}

CheckpointHook::CheckpointHook(CheckpointHookOptions options) : options_(std::move(options)) {
  MMHOOK_CHECK(options_.save_begin >= 0, "CheckpointHook.save_begin should not be less than 0, got ",
               options_.save_begin);
  if (options_.filename_tmpl.empty())
    options_.filename_tmpl = options_.by_epoch ? "epoch_{}.pth" : "iter_{}.pth";
  MMHOOK_CHECK(options_.filename_tmpl.find('/') == std::string::npos &&
                   options_.filename_tmpl.find("..") == std::string::npos,
               "CheckpointHook.filename_tmpl must be a plain file name, got '",
               options_.filename_tmpl, "'");
  MMHOOK_CHECK(options_.filename_tmpl.find("{}") != std::string::npos,
               "CheckpointHook.filename_tmpl must contain '{}', got '", options_.filename_tmpl, "'");
  const auto& best = options_.save_best;
  for (size_t i = 0; i < best.size(); ++i)
    for (size_t j = i + 1; j < best.size(); ++j)
      MMHOOK_CHECK(best[i] != best[j], "CheckpointHook.save_best has a duplicate key '", best[i], "'");
  if (std::find(best.begin(), best.end(), "auto") != best.end())
    MMHOOK_CHECK(best.size() == 1, "Only support one \"auto\" in \"save_best\" list");
  MMHOOK_CHECK(options_.rule.empty() || options_.rule.size() == 1 ||
                   options_.rule.size() == best.size(),
               "Number of \"rule\" must be 1 or the same as number of \"save_best\", got ",
               options_.rule.size());
  for (const auto& r : options_.rule)
    MMHOOK_CHECK(r == "greater" || r == "less", "CheckpointHook.rule must be 'greater' or 'less', got '",
                 r, "'");
  for (size_t i = 0; i < best.size(); ++i) {
    if (!options_.rule.empty()) {
      rules_.push_back(options_.rule.size() == 1 ? options_.rule[0] : options_.rule[i]);
    } else if (best[i] != "auto") {
      rules_.push_back(infer_rule(best[i], options_.greater_keys, options_.less_keys));
    } else {
      rules_.push_back("");
    }
  }
}

std::string CheckpointHook::format_name(int64_t step) const {
  std::string name = options_.filename_tmpl;
  const size_t pos = name.find("{}");
  name.replace(pos, 2, std::to_string(step));
  return name;
}

void CheckpointHook::before_train(Runner& runner) {
  if (options_.out_dir.empty()) {
    out_dir_ = runner.work_dir();
  } else {
    out_dir_ = (fs::path(options_.out_dir) / fs::path(runner.work_dir()).filename()).string();
  }
  keep_ids_.clear();
  if (options_.max_keep_ckpts > 0) {
    const nlohmann::json ids = runner.message_hub().get_info("keep_ckpt_ids", nlohmann::json::array());
    for (const auto& id : ids) keep_ids_.push_back(id.get<int64_t>());
    while (static_cast<int64_t>(keep_ids_.size()) > options_.max_keep_ckpts) {
      const fs::path old = fs::path(out_dir_) / format_name(keep_ids_.front());
      keep_ids_.pop_front();
      std::error_code ec;
      fs::remove_all(old, ec);
    }
  }
}

void CheckpointHook::after_train_epoch(Runner& runner) {
  if (!options_.by_epoch) return;
  if (every_n_epochs(runner, options_.interval, options_.save_begin) ||
      (options_.save_last && is_last_train_epoch(runner))) {
    runner.logger().info("Saving checkpoint at " + std::to_string(runner.epoch() + 1) + " epochs");
    save_with_step(runner, runner.epoch() + 1, runner.epoch() + 1, runner.iter());
  }
}

void CheckpointHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                      const TensorDict&) {
  if (options_.by_epoch) return;
  if (every_n_train_iters(runner, options_.interval, options_.save_begin) ||
      (options_.save_last && is_last_train_iter(runner))) {
    runner.logger().info("Saving checkpoint at " + std::to_string(runner.iter() + 1) + " iterations");
    save_with_step(runner, runner.iter() + 1, runner.epoch(), runner.iter() + 1);
  }
}

void CheckpointHook::save_with_step(Runner& runner, int64_t step, int64_t meta_epoch,
                                    int64_t meta_iter) {
  MessageHub& hub = runner.message_hub();
  if (options_.max_keep_ckpts > 0) {
    for (int64_t id : retention_after_save(keep_ids_, step, options_.max_keep_ckpts)) {
      std::error_code ec;
      fs::remove_all(fs::path(out_dir_) / format_name(id), ec);
    }
    hub.update_info("keep_ckpt_ids", nlohmann::json(std::vector<int64_t>(keep_ids_.begin(), keep_ids_.end())));
  }
  const std::string filename = format_name(step);
  const std::string last = (fs::path(out_dir_) / filename).string();
  hub.update_info("last_ckpt", last);
  SaveCheckpointOptions opt;
  opt.save_optimizer = options_.save_optimizer;
  opt.save_param_scheduler = options_.save_param_scheduler;
  opt.by_epoch = options_.by_epoch;
  opt.meta_epoch = meta_epoch;
  opt.meta_iter = meta_iter;
  runner.save_checkpoint(out_dir_, filename, opt);
  write_file_atomic(runner.work_dir() + "/last_checkpoint", last);
}

void CheckpointHook::after_val_epoch(Runner& runner, const Metrics& metrics) {
  if (metrics.empty()) {
    runner.logger().warn("Since `metrics` is an empty dict, the behavior to save the best "
                         "checkpoint will be skipped in this evaluation.");
    return;
  }
  if (options_.save_best.empty() || !runner.train_loop_built()) return;
  MessageHub& hub = runner.message_hub();
  const int64_t cur = options_.by_epoch ? runner.epoch() : runner.iter();
  const std::string ckpt_filename = format_name(cur);
  const bool single = options_.save_best.size() == 1;
  bool improved_any = false;
  for (size_t i = 0; i < options_.save_best.size(); ++i) {
    std::string key = options_.save_best[i];
    std::string rule = rules_[i];
    if (key == "auto") {
      key = metrics.begin()->first;
      rule = infer_rule(key, options_.greater_keys, options_.less_keys);
    }
    const double* value = metrics.find(key);
    MMHOOK_CHECK_CODE(value != nullptr, Code::kNotFound, "CheckpointHook.save_best: metric '", key,
                      "' is not in the evaluation results");
    const std::string score_key = single ? "best_score" : "best_score_" + key;
    const std::string ckpt_key = single ? "best_ckpt" : "best_ckpt_" + key;
    const double init = rule == "greater" ? -std::numeric_limits<double>::infinity()
                                          : std::numeric_limits<double>::infinity();
    const nlohmann::json stored = hub.get_info(score_key, nullptr);
    const double best = stored.is_number() ? stored.get<double>() : init;
    if (!is_better(rule, *value, best)) continue;
    improved_any = true;
    hub.update_info(score_key, *value);
    const nlohmann::json previous = hub.get_info(ckpt_key, nullptr);
    if (previous.is_string()) {
      std::error_code ec;
      fs::remove(previous.get<std::string>(), ec);
      runner.logger().info("The previous best checkpoint " + previous.get<std::string>() +
                           " is removed");
    }
    std::string best_name = "best_" + key + "_" + ckpt_filename;
    std::replace(best_name.begin(), best_name.end(), '/', '_');
    const std::string best_path = (fs::path(out_dir_) / best_name).string();
    hub.update_info(ckpt_key, best_path);
    SaveCheckpointOptions opt;
    opt.save_optimizer = false;
    opt.save_param_scheduler = false;
    opt.by_epoch = false;
    opt.meta_epoch = runner.epoch();
    opt.meta_iter = runner.iter();
    runner.save_checkpoint(out_dir_, best_name, opt);
    char score[64];
    std::snprintf(score, sizeof(score), "%0.4f", *value);
    runner.logger().info(std::string("The best checkpoint with ") + score + " " + key + " at " +
                         std::to_string(cur) + (options_.by_epoch ? " epoch" : " iter") +
                         " is saved to " + best_name + ".");
  }
  if (improved_any && hub.has_info("last_ckpt") && !hub.get_info("last_ckpt").is_null())
    save_with_step(runner, cur, runner.epoch(), runner.iter());
}

}  // namespace mmhook
