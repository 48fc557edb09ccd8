#include "mmhook/hooks/checkpoint_hook.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
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

std::string sha256_hex(const void* data, size_t size) {
  static constexpr std::array<uint32_t, 64> kK = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const unsigned char* p) {
    std::array<uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
             (uint32_t{p[4 * i + 2]} << 8) | uint32_t{p[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 =
          k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
  };
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t full = size / 64 * 64;
  for (size_t off = 0; off < full; off += 64) block(bytes + off);
  // Padding: 0x80, zeros, then the bit length as a 64-bit big-endian number.
  std::array<unsigned char, 128> tail{};
  const size_t rest = size - full;
  std::copy(bytes + full, bytes + size, tail.begin());
  tail[rest] = 0x80;
  const size_t tail_len = rest + 9 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(size) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  block(tail.data());
  if (tail_len == 128) block(tail.data() + 64);
  std::string out(64, '0');
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) out[8 * i + j] = kHex[(h[i] >> (28 - 4 * j)) & 0xf];
  return out;
}

// -------------------------------------------------------------------------- BackgroundWriter

struct BackgroundWriter::State {
  std::mutex mutex;
  std::condition_variable cv;
  std::function<void()> job;  // set: a job waits or runs
  std::exception_ptr error;   // of a finished job, until reported
  std::atomic<bool> failed{false};
  bool stop = false;
  std::thread thread;
};

BackgroundWriter::BackgroundWriter() : state_(std::make_unique<State>()) {
  State& st = *state_;
  st.thread = std::thread([&st] {
    std::unique_lock<std::mutex> lock(st.mutex);
    for (;;) {
      st.cv.wait(lock, [&st] { return st.stop || st.job; });
      if (!st.job) return;  // stopped with nothing left to do
      std::function<void()> job = st.job;
      lock.unlock();
      std::exception_ptr error;
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      st.job = nullptr;
      if (error && !st.error) {
        st.error = error;
        st.failed.store(true, std::memory_order_release);
      }
      st.cv.notify_all();
    }
  });
}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->thread.join();  // the thread finishes a pending job first
}

void BackgroundWriter::wait() {
  State& st = *state_;
  std::unique_lock<std::mutex> lock(st.mutex);
  st.cv.wait(lock, [&st] { return !st.job; });
  if (st.error) {
    std::exception_ptr error = std::exchange(st.error, nullptr);
    st.failed.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
  }
}

void BackgroundWriter::check() {
  if (state_->failed.load(std::memory_order_acquire)) wait();
}

void BackgroundWriter::submit(std::function<void()> job) {
  wait();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->job = std::move(job);
  }
  state_->cv.notify_all();
}

bool BackgroundWriter::busy() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<bool>(state_->job);
}

// ---------------------------------------------------------------------------- CheckpointHook

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
