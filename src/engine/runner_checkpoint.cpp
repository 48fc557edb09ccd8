// The Runner's checkpoints: MMEngine's `save_checkpoint`, `load_checkpoint`, `resume` and
// `load_or_resume` (docs/design.md §A3, §B8).

#include <exception>
#include <filesystem>

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>
#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>

#include "engine/runner_impl.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/checkpoint/resume.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/error.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/data/dataset.h"
#include "mmhook/dist/config_check.h"
#include "mmhook/dist/dist.h"
#include "mmhook/engine/loops.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"
#include "mmhook/scheduler/param_scheduler.h"
#include "mmhook/version.h"

namespace fs = std::filesystem;

namespace mmhook {

namespace {

// Every rank of a data-parallel run must continue from the same point: ranks that read different
// checkpoints (work dirs not shared, a checkpoint one rank cannot see) would train different
// iterations and wait on each other's collectives until the timeout. `from` is the checkpoint
// this rank resumed from ("" when it started over); `failure` is what made this rank's resume
// fail, `why` its message: then the peers, which would otherwise wait for it, fail too, naming
// it. Every rank throws, or none does.
void check_resume_across_ranks(const std::string& from, int64_t iter, int64_t epoch,
                               const std::exception_ptr& failure, const std::string& why) {
  const std::vector<nlohmann::json> all = dist::all_gather_object(
      nlohmann::json{{"from", from}, {"iter", iter}, {"epoch", epoch}, {"error", why}});
  if (failure) std::rethrow_exception(failure);
  for (size_t r = 0; r < all.size(); ++r) {
    const std::string peer_error = all[r].at("error").get<std::string>();
    if (!peer_error.empty())
      MMHOOK_THROW(Code::kCheckpoint, "resume failed on rank ", r, ": ", peer_error);
  }
  std::vector<dist::FlatConfig> points;
  points.reserve(all.size());
  for (const auto& p : all) {
    const std::string point = p.at("from").get<std::string>().empty()
                                  ? std::string("the beginning (no checkpoint)")
                                  : "iteration " + std::to_string(p.at("iter").get<int64_t>()) +
                                        " (epoch " + std::to_string(p.at("epoch").get<int64_t>()) +
                                        ")";
    points.push_back({{"resume point", point}});
  }
  const std::optional<dist::ConfigMismatch> mismatch = dist::find_config_mismatch(points);
  if (!mismatch) return;
  std::string files;
  for (size_t r = 0; r < all.size() && r < 8; ++r) {
    const std::string f = all[r].at("from").get<std::string>();
    files += (r ? ", rank " : "rank ") + std::to_string(r) + " '" + (f.empty() ? "-" : f) + "'";
  }
  if (all.size() > 8) files += ", ...";
  MMHOOK_THROW(Code::kCheckpoint,
               "resume: the ranks would continue from different points: ", mismatch->describe(),
               " (checkpoints: ", files,
               "); every rank must resume from the same checkpoint (a work_dir that all ranks "
               "share, or the same load_from)");
}

}  // namespace

void Runner::load_or_resume() {
  Impl& m = *impl_;
  if (m.has_loaded) return;
  const bool resume_flag = m.cfg.resume;
  // Data parallel: every rank learns whether the others resumed, and from where.
  const bool check_ranks = (m.cfg.resume_auto || resume_flag) && world_size() > 1;
  std::string resumed_from;
  std::exception_ptr failure;
  std::string why;
  try {
    resumed_from = resume_or_load();
  } catch (const std::exception& e) {
    if (!check_ranks) throw;
    failure = std::current_exception();
    why = e.what();
  }
  if (check_ranks) {
    const bool resumed = !failure && !resumed_from.empty();
    check_resume_across_ranks(resumed_from, resumed ? train_loop().iter() : 0,
                              resumed ? train_loop().epoch() : 0, failure, why);
  }
}

std::string Runner::resume_or_load() {
  Impl& m = *impl_;
  const bool resume_flag = m.cfg.resume;
  const std::string& load_from = m.cfg.load_from;
  if (m.cfg.resume_auto) {
    // A requeued or restarted job: continue work_dir's newest checkpoint when an earlier attempt
    // left one, else start as a new run would (load_from then gives the initial weights only).
    std::vector<std::string> warnings;
    std::string path;
    try {
      path = find_resume_checkpoint(m.cfg.work_dir, warnings);
    } catch (const Error& e) {
      for (const auto& w : warnings) m.log->logger().warn(w);
      if (e.code() != Code::kNotFound) throw;
      m.log->logger().info("resume: \"auto\": no checkpoint in '" + m.cfg.work_dir +
                           "', starting from the beginning");
      if (!load_from.empty()) load_checkpoint(load_from);
      return "";
    }
    for (const auto& w : warnings) m.log->logger().warn(w);
    resume(path);
    return path;
  }
  if (resume_flag && load_from.empty()) {
    // An explicit resume continues the newest checkpoint of work_dir and never starts over:
    // a fresh start would overwrite the checkpoints of the run the user meant to continue.
    // A missing or junk last_checkpoint falls back to the checkpoint with the most iterations.
    std::vector<std::string> warnings;
    std::string path;
    try {
      path = find_resume_checkpoint(m.cfg.work_dir, warnings);
    } catch (const Error& e) {
      if (e.code() != Code::kNotFound) {
        for (const auto& w : warnings) m.log->logger().warn(w);
        throw;
      }
      MMHOOK_THROW(Code::kNotFound, "resume: no checkpoint in '", m.cfg.work_dir,
                   "' to resume from (resuming never starts over; start a new run without "
                   "resume)");
    }
    for (const auto& w : warnings) m.log->logger().warn(w);
    resume(path);
    return path;
  }
  if (resume_flag) {
    resume(load_from);
    return load_from;
  }
  if (!load_from.empty()) load_checkpoint(load_from);
  return "";
}

void Runner::save_checkpoint(const std::string& out_dir, const std::string& filename,
                             const SaveCheckpointOptions& opt) {
  const Checkpoint ckpt = make_checkpoint(opt);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create checkpoint dir '", out_dir, "': ", ec.message());
  if (rank() == 0) save_checkpoint_file((fs::path(out_dir) / filename).string(), ckpt);
}

Checkpoint Runner::make_checkpoint(const SaveCheckpointOptions& opt) {
  Impl& m = *impl_;
  TrainLoop& loop = train_loop();
  Checkpoint ckpt;
  const int64_t meta_epoch =
      opt.meta_epoch ? *opt.meta_epoch : (opt.by_epoch ? epoch() + 1 : epoch());
  const int64_t meta_iter = opt.meta_iter ? *opt.meta_iter : (opt.by_epoch ? iter() : iter() + 1);
  ckpt.set_meta("epoch", meta_epoch);
  ckpt.set_meta("iter", meta_iter);
  ckpt.set_meta("cfg", m.cfg.raw.dump(2));
  ckpt.set_meta("seed", m.seed);
  ckpt.set_meta("experiment_name", m.experiment_name);
  ckpt.set_meta("time", make_timestamp());
  ckpt.set_meta("mmengine_version", std::string("mmhook ") + kVersionString);
  ckpt.set_meta("dataset_meta", json_to_ivalue(loop.dataloader().dataset().metainfo()));
  ckpt.set("state_dict", module_state_dict(*m.model));
  ckpt.set("message_hub", m.message_hub->state_dict());
  if (opt.save_optimizer && m.optim_wrapper) ckpt.set("optimizer", m.optim_wrapper->state_dict());
  if (opt.save_param_scheduler && !m.param_schedulers.empty()) {
    c10::impl::GenericList list(c10::AnyType::get());
    for (const auto& s : m.param_schedulers) list.push_back(s->state_dict());
    ckpt.set("param_schedulers", list);
  }
  ckpt.set("rng_state", capture_rng_state());
  {
    auto loop_state = make_generic_dict();
    loop_state.insert("epoch", loop.epoch());
    loop_state.insert("iter", loop.iter());
    loop_state.insert("by_epoch", loop.by_epoch());
    ckpt.set("loop_state", loop_state);
  }
  ckpt.set("hook_states", make_generic_dict());
  StageArgs args;
  args.checkpoint = &ckpt;
  call_hook(Stage::kBeforeSaveCheckpoint, args);
  return ckpt;
}

Checkpoint Runner::read_and_announce(const std::string& path) {
  Checkpoint ckpt = load_checkpoint_file(path);
  StageArgs args;
  args.checkpoint = &ckpt;
  call_hook(Stage::kAfterLoadCheckpoint, args);
  return ckpt;
}

void Runner::load_checkpoint(const std::string& path, bool strict) {
  Impl& m = *impl_;
  Checkpoint ckpt = read_and_announce(path);
  c10::impl::GenericDict state =
      ckpt.contains("state_dict") ? ckpt.get("state_dict").toGenericDict() : ckpt.dict();
  LoadReport report;
  try {
    report = load_module_state_dict(*m.model, state, strict);
  } catch (const Error& e) {
    // Shape or key mismatches name the parameters; the file is what the user has to change.
    if (std::string(e.what()).find(path) != std::string::npos) throw;
    MMHOOK_THROW(e.code(), "checkpoint '", path, "': ", e.what());
  } catch (const c10::Error& e) {
    MMHOOK_THROW(Code::kCheckpoint, "checkpoint '", path, "': ", e.what_without_backtrace());
  }
  if (!report.missing_keys.empty() || !report.unexpected_keys.empty()) {
    std::string msg = "The model and loaded state dict do not match exactly.";
    if (!report.unexpected_keys.empty()) {
      msg += " unexpected key in source state_dict:";
      for (const auto& k : report.unexpected_keys) msg += " " + k;
    }
    if (!report.missing_keys.empty()) {
      msg += " missing keys in source state_dict:";
      for (const auto& k : report.missing_keys) msg += " " + k;
    }
    m.log->logger().warn(msg);
  }
  m.has_loaded = true;
  m.log->logger().info("Load checkpoint from " + path);
}

void Runner::resume(const std::string& path) {
  Impl& m = *impl_;
  Checkpoint ckpt = read_and_announce(path);
  auto fail = [&](const std::string& what) {
    MMHOOK_THROW(Code::kCheckpoint, "checkpoint '", path, "': ", what);
  };
  if (!ckpt.contains("state_dict")) fail("has no 'state_dict' to resume from");
  load_module_state_dict(*m.model, ckpt.get("state_dict").toGenericDict(), false);
  auto meta = ckpt.meta();
  if (!meta.contains("epoch") || !meta.contains("iter")) fail("meta lacks 'epoch'/'iter'");
  TrainLoop& loop = train_loop();
  loop.set_counters(meta.at("epoch").toInt(), meta.at("iter").toInt());
  if (meta.contains("seed") && meta.at("seed").isInt() && meta.at("seed").toInt() != m.seed) {
    m.log->logger().warn(
        "The value of random seed in the checkpoint \"" + std::to_string(meta.at("seed").toInt()) +
        "\" is different from the value in `randomness` config \"" + std::to_string(m.seed) + "\"");
    m.seed = meta.at("seed").toInt();
  }
  if (meta.contains("dataset_meta")) {
    const nlohmann::json saved = ivalue_to_json(meta.at("dataset_meta"));
    if (saved != loop.dataloader().dataset().metainfo())
      m.log->logger().warn(
          "The dataset metainfo from the resumed checkpoint is different from the "
          "current training dataset, please check the correctness of the checkpoint "
          "or the training dataset.");
  }
  if (ckpt.contains("message_hub")) m.message_hub->load_state_dict(ckpt.get("message_hub"));
  if (ckpt.contains("optimizer")) optim_wrapper().load_state_dict(ckpt.get("optimizer"));
  build_param_schedulers();
  if (ckpt.contains("param_schedulers") && !m.param_schedulers.empty()) {
    auto list = ckpt.get("param_schedulers").toList();
    if (list.size() != m.param_schedulers.size())
      fail("has " + std::to_string(list.size()) + " param_schedulers, the config builds " +
           std::to_string(m.param_schedulers.size()));
    for (size_t i = 0; i < list.size(); ++i) m.param_schedulers[i]->load_state_dict(list.get(i));
  }
  if (ckpt.contains("rng_state")) restore_rng_state(ckpt.get("rng_state"));
  m.has_loaded = true;
  m.log->logger().info("resumed epoch: " + std::to_string(loop.epoch()) +
                       ", iter: " + std::to_string(loop.iter()));
}

}  // namespace mmhook
