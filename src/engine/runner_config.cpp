#include "mmhook/engine/runner_config.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "mmhook/config/json_parse.h"
#include "mmhook/core/error.h"
#include "mmhook/logging/run_logger.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

const std::vector<std::string> kTopLevelKeys = {
    "model",         "work_dir",        "train_dataloader", "val_dataloader", "test_dataloader",
    "val_evaluator", "test_evaluator",  "train_cfg",        "val_cfg",        "test_cfg",
    "optim_wrapper", "param_scheduler", "default_hooks",    "custom_hooks",   "log_processor",
    "visualizer",    "randomness",      "env_cfg",          "load_from",      "resume",
    "auto_scale_lr", "experiment_name", "launcher",         "log_level",      "default_scope"};

bool is_set(const nlohmann::json& cfg, const char* key) {
  auto it = cfg.find(key);
  return it != cfg.end() && !it->is_null();
}

std::optional<ConfigNode> node_if_set(const nlohmann::json& cfg, const std::string& key) {
  if (!is_set(cfg, key.c_str())) return std::nullopt;
  return ConfigNode(cfg[key], key);
}

std::optional<ConfigValue> value_if_set(const nlohmann::json& cfg, const std::string& key) {
  if (!is_set(cfg, key.c_str())) return std::nullopt;
  return ConfigValue{cfg[key], key};
}

// MMEngine: a loop's dataloader, loop config and its third key are all given or all None.
void check_all_or_none(const nlohmann::json& cfg, const char* a, const char* b, const char* c) {
  const int n = is_set(cfg, a) + is_set(cfg, b) + is_set(cfg, c);
  if (n != 0 && n != 3)
    MMHOOK_THROW(Code::kConfig, a, ", ", b, " and ", c,
                 " should be either all None or not None (set: ", is_set(cfg, a) ? a : "",
                 is_set(cfg, b) ? std::string(" ") + b : "",
                 is_set(cfg, c) ? std::string(" ") + c : "", ")");
}

// `train_cfg` names its loop by `by_epoch` (true or absent: EpochBasedTrainLoop) unless it
// gives a `type`.
ConfigNode train_loop_node(const nlohmann::json& train_cfg) {
  nlohmann::json loop = train_cfg;
  if (!loop.contains("type")) {
    const auto by_epoch = loop.find("by_epoch");
    const bool given = by_epoch != loop.end() && !by_epoch->is_null();
    if (given && !by_epoch->is_boolean())
      MMHOOK_THROW(Code::kConfig, "train_cfg.by_epoch: expected boolean, got ", by_epoch->dump());
    const bool epoch_based = !given || by_epoch->get<bool>();
    loop.erase("by_epoch");
    loop["type"] = epoch_based ? "EpochBasedTrainLoop" : "IterBasedTrainLoop";
  }
  return ConfigNode(std::move(loop), "train_cfg");
}

EvalLoopConfig eval_loop_config(const nlohmann::json& cfg, const std::string& prefix,
                                const char* default_type) {
  EvalLoopConfig out;
  out.dataloader = node_if_set(cfg, prefix + "_dataloader");
  out.evaluator = value_if_set(cfg, prefix + "_evaluator");
  const std::string key = prefix + "_cfg";
  if (is_set(cfg, key.c_str())) {
    nlohmann::json loop = cfg[key];
    if (!loop.contains("type")) loop["type"] = default_type;
    out.loop = ConfigNode(std::move(loop), key);
  }
  return out;
}

// MMEngine's default hooks in its order; entries of `default_hooks` replace or add one, null
// removes one. Then `custom_hooks` in their order.
std::vector<ConfigValue> hook_entries(const nlohmann::json& cfg) {
  std::vector<std::pair<std::string, nlohmann::json>> defaults = {
      {"runtime_info", {{"type", "RuntimeInfoHook"}}},
      {"timer", {{"type", "IterTimerHook"}}},
      {"sampler_seed", {{"type", "DistSamplerSeedHook"}}},
      {"logger", {{"type", "LoggerHook"}}},
      {"param_scheduler", {{"type", "ParamSchedulerHook"}}},
      {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 1}}}};
  if (is_set(cfg, "default_hooks")) {
    // In the order the config gives them (a JSON object's own order is not kept: keys sort).
    for (const auto& [key, value] : cfg["default_hooks"].items()) {
      auto it = std::find_if(defaults.begin(), defaults.end(),
                             [&key = key](const auto& d) { return d.first == key; });
      if (value.is_null()) {
        if (it != defaults.end()) defaults.erase(it);
      } else if (!value.is_object()) {
        MMHOOK_THROW(Code::kConfig, "default_hooks.", key, ": expected object or null, got ",
                     json_type_name(value));
      } else if (it != defaults.end()) {
        it->second = value;
      } else {
        defaults.emplace_back(key, value);
      }
    }
  }
  const nlohmann::json* custom = is_set(cfg, "custom_hooks") ? &cfg["custom_hooks"] : nullptr;
  std::vector<ConfigValue> out;
  out.reserve(defaults.size() + (custom != nullptr ? custom->size() : 0));
  for (auto& [key, value] : defaults)
    out.push_back(ConfigValue{std::move(value), "default_hooks." + key});
  if (custom != nullptr) {
    for (size_t i = 0; i < custom->size(); ++i)
      out.push_back(ConfigValue{(*custom)[i], "custom_hooks[" + std::to_string(i) + "]"});
  }
  return out;
}

}  // namespace

RunnerConfig parse_runner_config(const nlohmann::json& cfg, const std::string& cfg_path) {
  if (!cfg.is_object())
    MMHOOK_THROW(Code::kConfig, "config must be a JSON object, got ",
                 cfg.is_array() ? "an array" : json_type_name(cfg));
  // Before any recursive copy or dump of it: a config built in code is not checked by the
  // parser's depth limit.
  check_json_depth(cfg, "config");
  RunnerConfig out;
  out.raw = cfg;
  out.cfg_path = cfg_path;
  const ConfigNode root(cfg, "");
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), it.key()) == kTopLevelKeys.end()) {
      const std::string hint = did_you_mean(it.key(), kTopLevelKeys);
      MMHOOK_THROW(Code::kConfig, it.key(), ": unknown key",
                   hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
    }
  }

  const std::string work_dir = root.get<std::string>("work_dir", "work_dirs/default");
  if (work_dir.empty())
    root.fail("work_dir", "is empty (give a directory for logs and checkpoints)");
  out.work_dir = fs::absolute(work_dir).lexically_normal().string();
  if (!out.work_dir.empty() && out.work_dir.back() == '/') out.work_dir.pop_back();

  // MMEngine's consistency checks (docs/design.md §B3.1).
  check_all_or_none(cfg, "train_dataloader", "train_cfg", "optim_wrapper");
  check_all_or_none(cfg, "val_dataloader", "val_cfg", "val_evaluator");
  check_all_or_none(cfg, "test_dataloader", "test_cfg", "test_evaluator");
  if (is_set(cfg, "param_scheduler") && !is_set(cfg, "optim_wrapper"))
    MMHOOK_THROW(Code::kConfig, "param_scheduler: should be None when optim_wrapper is None");

  for (const char* key : {"train_cfg", "val_cfg", "test_cfg", "train_dataloader", "val_dataloader",
                          "test_dataloader", "optim_wrapper", "default_hooks", "log_processor",
                          "visualizer", "randomness", "env_cfg", "auto_scale_lr"}) {
    if (is_set(cfg, key) && !cfg[key].is_object())
      MMHOOK_THROW(Code::kConfig, key, ": expected object, got ", json_type_name(cfg[key]));
  }
  out.load_from = root.get<std::string>("load_from", "");
  out.experiment_name = root.get<std::string>("experiment_name", "");
  out.launcher = root.get<std::string>("launcher", "none");
  out.log_level = root.get<std::string>("log_level", "INFO");
  (void)root.get<std::string>("default_scope", "");
  if (!RunLogger::is_level_name(out.log_level))
    root.fail("log_level", "must be DEBUG, INFO, WARNING or ERROR, got '" + out.log_level + "'");
  if (root.has("resume") && root.json()["resume"].is_string()) {
    // "auto": resume from work_dir's newest checkpoint when it has one, else start fresh: what a
    // requeued or restarted job runs without knowing whether an earlier attempt got anywhere.
    const auto mode = root.get<std::string>("resume", "");
    if (mode != "auto")
      root.fail("resume", "must be true, false or \"auto\", got \"" + mode + "\"");
    out.resume = true;
    out.resume_auto = true;
  } else {
    out.resume = root.get<bool>("resume", false);
  }
  if (is_set(cfg, "custom_hooks") && !cfg["custom_hooks"].is_array())
    MMHOOK_THROW(Code::kConfig, "custom_hooks: expected list, got ",
                 json_type_name(cfg["custom_hooks"]));

  {
    const ConfigNode env = root.child("env_cfg");
    (void)env.get<bool>("cudnn_benchmark", false);
    (void)env.get<nlohmann::json>("mp_cfg", nullptr);
    if (env.has("dist_cfg")) {
      const ConfigNode dc = env.child("dist_cfg");
      out.dist.backend = dc.get<std::string>("backend", "gloo");
      const double timeout_s = dc.get<double>("timeout", 1800.0);
      if (!(timeout_s > 0)) dc.fail("timeout", "must be > 0 seconds");
      out.dist.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
      out.grad_sync.bucket_cap_mb = dc.get<double>("bucket_cap_mb", 25.0);
      if (!(out.grad_sync.bucket_cap_mb > 0)) dc.fail("bucket_cap_mb", "must be > 0 MiB");
      out.grad_sync.find_unused_parameters = dc.get<bool>("find_unused_parameters", false);
      out.overlap_grad_sync = dc.get<bool>("overlap", true);
      out.requeue = dc.get<bool>("requeue", false);
      dc.check_unused();
    } else {
      env.mark_used("dist_cfg");
    }
    (void)env.get<int64_t>("resource_limit", 4096);
    out.env = read_env_settings(env);
    env.check_unused();
  }
  {
    const ConfigNode rnd = root.child("randomness");
    out.seed = rnd.get_optional<int64_t>("seed");
    out.diff_rank_seed = rnd.get<bool>("diff_rank_seed", false);
    out.deterministic = rnd.get<bool>("deterministic", false);
    rnd.check_unused();
  }
  if (is_set(cfg, "auto_scale_lr")) {
    const ConfigNode node(cfg["auto_scale_lr"], "auto_scale_lr");
    const bool enable = node.get<bool>("enable", false);
    const auto base = node.get_optional<int64_t>("base_batch_size");
    node.check_unused();
    if (enable && (!base || *base <= 0))
      node.fail("base_batch_size", "is required (a positive integer) when enable is true");
    if (enable) out.auto_scale_lr_base_batch_size = base;
  }

  out.log_processor = root.child("log_processor");
  if (!is_set(cfg, "model")) MMHOOK_THROW(Code::kConfig, "model: required key is missing");
  out.model = ConfigNode(cfg["model"], "model");
  out.optim_wrapper = node_if_set(cfg, "optim_wrapper");
  out.param_scheduler = value_if_set(cfg, "param_scheduler");
  out.train_dataloader = node_if_set(cfg, "train_dataloader");
  if (is_set(cfg, "train_cfg")) out.train_loop = train_loop_node(cfg["train_cfg"]);
  out.val = eval_loop_config(cfg, "val", "ValLoop");
  out.test = eval_loop_config(cfg, "test", "TestLoop");
  out.hooks = hook_entries(cfg);
  {
    const ConfigNode vis = root.child("visualizer");
    (void)vis.get<std::string>("type", "Visualizer");
    (void)vis.get<std::string>("name", "visualizer");
    if (vis.contains("vis_backends")) {
      out.vis_backends = vis.children("vis_backends");
    } else {
      out.vis_backends.emplace_back(nlohmann::json{{"type", "LocalVisBackend"}},
                                    "visualizer.vis_backends[0]");
    }
    vis.check_unused();
  }
  return out;
}

}  // namespace mmhook
