#include "mmhook/hooks/checkpoint_hook.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/message_hub.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

// Removes the temporary files a killed write_file_atomic left in `dir` (".<name>.tmp.XXXXXX",
// mkstemp's six characters); returns how many. No file is committed under such a name.
int remove_stale_temp_files(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t tag = name.rfind(".tmp.");
    if (name.size() < 2 || name[0] != '.' || tag == std::string::npos || tag == 0 ||
        name.size() - tag != 11 || !it->is_regular_file(ec)) {
      continue;
    }
    if (fs::remove(it->path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace

CheckpointHook::CheckpointHook(CheckpointHookOptions options) : options_(std::move(options)) {
  MMHOOK_CHECK(options_.save_begin >= 0,
               "CheckpointHook.save_begin should not be less than 0, got ", options_.save_begin);
  if (options_.filename_tmpl.empty())
    options_.filename_tmpl = options_.by_epoch ? "epoch_{}.pth" : "iter_{}.pth";
  MMHOOK_CHECK(options_.filename_tmpl.find('/') == std::string::npos &&
                   options_.filename_tmpl.find("..") == std::string::npos,
               "CheckpointHook.filename_tmpl must be a plain file name, got '",
               options_.filename_tmpl, "'");
  MMHOOK_CHECK(options_.filename_tmpl.find("{}") != std::string::npos,
               "CheckpointHook.filename_tmpl must contain '{}', got '", options_.filename_tmpl,
               "'");
  const auto& best = options_.save_best;
  for (size_t i = 0; i < best.size(); ++i)
    for (size_t j = i + 1; j < best.size(); ++j)
      MMHOOK_CHECK(best[i] != best[j], "CheckpointHook.save_best has a duplicate key '", best[i],
                   "'");
  if (std::find(best.begin(), best.end(), "auto") != best.end())
    MMHOOK_CHECK(best.size() == 1, "Only support one \"auto\" in \"save_best\" list");
  MMHOOK_CHECK(
      options_.rule.empty() || options_.rule.size() == 1 || options_.rule.size() == best.size(),
      "Number of \"rule\" must be 1 or the same as number of \"save_best\", got ",
      options_.rule.size());
  const auto& pub = options_.published_keys;
  for (size_t i = 0; i < pub.size(); ++i)
    for (size_t j = i + 1; j < pub.size(); ++j)
      MMHOOK_CHECK(pub[i] != pub[j], "CheckpointHook.published_keys has a duplicate key '", pub[i],
                   "'");
  for (const auto& r : options_.rule)
    MMHOOK_CHECK(r == "greater" || r == "less",
                 "CheckpointHook.rule must be 'greater' or 'less', got '", r, "'");
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
  if (runner.rank() == 0) {
    int stale = remove_stale_temp_files(out_dir_);
    if (out_dir_ != runner.work_dir()) stale += remove_stale_temp_files(runner.work_dir());
    if (stale > 0) {
      runner.logger().warn("Removed " + std::to_string(stale) +
                           " partial checkpoint file(s) left by an interrupted write");
    }
  }
  keep_ids_.clear();
  if (options_.max_keep_ckpts > 0) {
    const nlohmann::json ids =
        runner.message_hub().get_info("keep_ckpt_ids", nlohmann::json::array());
    for (const auto& id : ids) keep_ids_.push_back(id.get<int64_t>());
    while (static_cast<int64_t>(keep_ids_.size()) > options_.max_keep_ckpts) {
      const fs::path old = fs::path(out_dir_) / format_name(keep_ids_.front());
      keep_ids_.pop_front();
      std::error_code ec;
      if (runner.rank() == 0) fs::remove_all(old, ec);  // files are rank 0's
    }
  }
}

void CheckpointHook::after_train_epoch(Runner& runner) {
  if (writer_) writer_->check();
  if (!options_.by_epoch) return;
  if (every_n_epochs(runner, options_.interval, options_.save_begin) ||
      (options_.save_last && is_last_train_epoch(runner))) {
    runner.logger().info("Saving checkpoint at " + std::to_string(runner.epoch() + 1) + " epochs");
    save_with_step(runner, runner.epoch() + 1, runner.epoch() + 1, runner.iter());
  }
}

void CheckpointHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                      const TensorDict&) {
  if (writer_) writer_->check();  // a failed background write stops the run here
  if (options_.by_epoch) return;
  if (every_n_train_iters(runner, options_.interval, options_.save_begin) ||
      (options_.save_last && is_last_train_iter(runner))) {
    runner.logger().info("Saving checkpoint at " + std::to_string(runner.iter() + 1) +
                         " iterations");
    save_with_step(runner, runner.iter() + 1, runner.epoch(), runner.iter() + 1);
  }
}

void CheckpointHook::save_with_step(Runner& runner, int64_t step, int64_t meta_epoch,
                                    int64_t meta_iter) {
  MessageHub& hub = runner.message_hub();
  std::vector<int64_t> drop;
  if (options_.max_keep_ckpts > 0) {
    drop = retention_after_save(keep_ids_, step, options_.max_keep_ckpts);
    hub.update_info("keep_ckpt_ids",
                    nlohmann::json(std::vector<int64_t>(keep_ids_.begin(), keep_ids_.end())));
  }
  const std::string filename = format_name(step);
  const std::string last = (fs::path(out_dir_) / filename).string();
  // Recorded before the save, as MMEngine does (the checkpoint carries its own name), and put
  // back if the save fails: a hook aborting at before_save_checkpoint or a failed write must not
  // leave last_ckpt naming a file that was never written.
  struct RestoreOnFailure {
    MessageHub& hub;
    nlohmann::json previous;
    bool committed = false;
    ~RestoreOnFailure() {
      if (!committed) hub.update_info("last_ckpt", std::move(previous));
    }
  } restore{hub, hub.get_info("last_ckpt", nullptr)};
  hub.update_info("last_ckpt", last);
  SaveCheckpointOptions opt;
  opt.save_optimizer = options_.save_optimizer;
  opt.save_param_scheduler = options_.save_param_scheduler;
  opt.by_epoch = options_.by_epoch;
  opt.meta_epoch = meta_epoch;
  opt.meta_iter = meta_iter;
  std::vector<std::string> drop_paths;
  drop_paths.reserve(drop.size());
  for (int64_t id : drop) drop_paths.push_back((fs::path(out_dir_) / format_name(id)).string());
  const std::string marker = runner.work_dir() + "/last_checkpoint";
  // Old checkpoints go only once the new one and the marker pointing at it are on disk: a kill
  // or a failed write (disk full) before this point leaves the previous checkpoints intact.
  auto commit = [marker, last, drop_paths] {
    write_file_atomic(marker, last);
    for (const auto& path : drop_paths) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  if (!options_.async_save) {
    runner.save_checkpoint(out_dir_, filename, opt);
    if (runner.rank() == 0) commit();  // only rank 0 writes files
    restore.committed = true;
    return;
  }
  // Serialised here (a snapshot of this moment's state); written by the background thread.
  const Checkpoint ckpt = runner.make_checkpoint(opt);
  if (runner.rank() != 0) {
    restore.committed = true;
    return;
  }
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create checkpoint dir '", out_dir_, "': ", ec.message());
  auto bytes = std::make_shared<std::vector<char>>(serialize_checkpoint(ckpt));
  if (!writer_) writer_ = std::make_unique<BackgroundWriter>();
  writer_->submit([last, bytes, commit] {
    write_file_atomic(last, bytes->data(), bytes->size());
    commit();
  });
  restore.committed = true;  // a failed background write stops the run at the next check()
}

void CheckpointHook::after_val_epoch(Runner& runner, const Metrics& metrics) {
  if (runner.val_loop().interrupted()) return;  // a stopped pass has no metrics to rank
  if (metrics.empty()) {
    runner.logger().warn(
        "Since `metrics` is an empty dict, the behavior to save the best "
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
      if (runner.rank() == 0) fs::remove(previous.get<std::string>(), ec);
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

void CheckpointHook::after_train(Runner& runner) {
  if (writer_) writer_->wait();  // the last checkpoint is on disk before training ends
  if (options_.published_keys.empty()) return;
  MessageHub& hub = runner.message_hub();
  std::vector<std::string> paths;
  auto add = [&](const std::string& key) {
    const nlohmann::json v = hub.get_info(key, nullptr);
    if (v.is_string() && std::find(paths.begin(), paths.end(), v.get<std::string>()) == paths.end())
      paths.push_back(v.get<std::string>());
  };
  if (options_.save_last) add("last_ckpt");
  if (options_.save_best.size() == 1) {
    add("best_ckpt");
  } else {
    for (const auto& key : options_.save_best) add("best_ckpt_" + key);
  }
  for (const auto& path : paths) publish(runner, path);
}

void CheckpointHook::on_exception(Runner& runner, const std::string&) {
  if (!writer_) return;
  try {
    writer_->wait();
  } catch (const std::exception& e) {
    runner.logger().error(std::string("CheckpointHook: background checkpoint write failed: ") +
                          e.what());
  }
}

void CheckpointHook::after_run(Runner&) {
  if (writer_) writer_->wait();
}

void CheckpointHook::publish(Runner& runner, const std::string& path) {
  Checkpoint ckpt = load_checkpoint_file(path);
  std::string removed;
  for (const auto& key : ckpt.keys()) {
    const auto& pub = options_.published_keys;
    if (std::find(pub.begin(), pub.end(), key) != pub.end()) continue;
    ckpt.erase(key);
    removed += (removed.empty() ? "" : ", ") + key;
  }
  if (!removed.empty())
    runner.logger().info("Key [" + removed +
                         "] will be removed because they are not found in published_keys. If you "
                         "want to keep them, please set `" +
                         removed + "` in published_keys");
  const std::vector<char> bytes = serialize_checkpoint(ckpt);
  const std::string sha = sha256_hex(bytes.data(), bytes.size());
  // Only the file name of `path` is used, so the published file always lands in out_dir.
  const std::string name = fs::path(path).stem().string() + "-" + sha.substr(0, 8) + ".pth";
  const std::string final_path = (fs::path(out_dir_) / name).string();
  write_file_atomic(final_path, bytes.data(), bytes.size());
  runner.logger().info("The checkpoint (" + path + ") is published to " + final_path + ".");
}

void detail::register_checkpoint_hook(Registry<Hook>& registry) {
  registry.add("CheckpointHook", [](const ConfigNode& cfg) {
    CheckpointHookOptions o;
    o.interval = cfg.get<int64_t>("interval", o.interval);
    o.by_epoch = cfg.get<bool>("by_epoch", o.by_epoch);
    o.save_optimizer = cfg.get<bool>("save_optimizer", o.save_optimizer);
    o.save_param_scheduler = cfg.get<bool>("save_param_scheduler", o.save_param_scheduler);
    o.out_dir = cfg.get<std::string>("out_dir", o.out_dir);
    o.max_keep_ckpts = cfg.get<int64_t>("max_keep_ckpts", o.max_keep_ckpts);
    o.save_last = cfg.get<bool>("save_last", o.save_last);
    o.save_best = string_or_list(cfg, "save_best", {});
    o.rule = string_or_list(cfg, "rule", {});
    o.greater_keys = string_or_list(cfg, "greater_keys", o.greater_keys);
    o.less_keys = string_or_list(cfg, "less_keys", o.less_keys);
    o.filename_tmpl = cfg.get<std::string>("filename_tmpl", o.filename_tmpl);
    o.save_begin = cfg.get<int64_t>("save_begin", o.save_begin);
    o.published_keys = string_or_list(cfg, "published_keys", {});
    o.async_save = cfg.get<bool>("async_save", o.async_save);
    return std::make_shared<CheckpointHook>(o);
  });
}

}  // namespace mmhook
