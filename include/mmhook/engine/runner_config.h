#pragma once
/// @file
/// `RunnerConfig`: a run's JSON config read and checked once (docs/design.md §A5), as plain
/// fields. Sub-configs that a Registry builds (model, loaders, optimizer wrapper, hooks, ...) stay
/// `ConfigNode`s, which carry their JSON path for errors; nothing else reads the raw JSON again.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/config/config_node.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/reducer.h"
#include "mmhook/engine/env_setup.h"

namespace mmhook {

/// A sub-config that is not always an object (a list of schedulers, of metrics, a hook entry
/// still to be checked), with its JSON path.
struct ConfigValue {
  nlohmann::json value;  ///< as given
  std::string path;      ///< e.g. "param_scheduler", "custom_hooks[2]"
};

/// A val or test loop's three keys (all set or none, as MMEngine requires).
struct EvalLoopConfig {
  std::optional<ConfigNode> dataloader;  ///< `<val|test>_dataloader`
  std::optional<ConfigNode> loop;        ///< `<val|test>_cfg`, `type` filled in (ValLoop/TestLoop)
  std::optional<ConfigValue> evaluator;  ///< `<val|test>_evaluator` (an object or a list)
  /// True when the loop is configured.
  bool configured() const { return loop.has_value(); }
};

/// Everything a Runner reads from its config, checked.
struct RunnerConfig {
  /// The config as given: dumped to work_dir, into checkpoints' meta and the message hub.
  nlohmann::json raw;
  /// The config file's path ("" for a config built in code): the experiment name and dump name.
  std::string cfg_path;
  /// Absolute, normalised, without a trailing '/' (`work_dir`, default "work_dirs/default").
  std::string work_dir;
  /// `experiment_name` ("" when not given).
  std::string experiment_name;
  /// `launcher`: "none" (default), "pytorch", ...
  std::string launcher = "none";
  /// `log_level`: "DEBUG", "INFO" (default), "WARNING" or "ERROR".
  std::string log_level = "INFO";
  /// `load_from` ("" when not given).
  std::string load_from;
  /// `resume`: true, or "auto" (then `resume_auto` is set too).
  bool resume = false;
  /// `resume: "auto"`: resume from work_dir's newest checkpoint when there is one, else start
  /// fresh (for requeued and restarted jobs); `resume: true` without one is an error.
  bool resume_auto = false;
  /// `env_cfg`: threads, allocator, hook timing.
  EnvSettings env;
  /// `env_cfg.dist_cfg`: the process group's backend and timeout.
  dist::DistOptions dist;
  /// `env_cfg.dist_cfg.bucket_cap_mb` and `find_unused_parameters`: the gradient buckets.
  dist::ReducerOptions grad_sync;
  /// `env_cfg.dist_cfg.overlap`: all-reduce the gradients during backward (true, default) or
  /// after it.
  bool overlap_grad_sync = true;
  /// `env_cfg.dist_cfg.requeue`: after a stop by SIGTERM/SIGUSR1 has saved its checkpoint,
  /// `mmhook train` runs `scontrol requeue` for its SLURM job (rank 0). Default false.
  bool requeue = false;
  /// `randomness.seed` (a random seed shared by the ranks when not given).
  std::optional<int64_t> seed;
  /// `randomness.diff_rank_seed`: each rank adds its rank to the seed.
  bool diff_rank_seed = false;
  /// `randomness.deterministic`: LibTorch's deterministic algorithms.
  bool deterministic = false;
  /// `auto_scale_lr.base_batch_size` when `auto_scale_lr.enable` is true.
  std::optional<int64_t> auto_scale_lr_base_batch_size;

  std::optional<ConfigNode> model;             ///< `model` (required)
  std::optional<ConfigNode> log_processor;     ///< `log_processor` (an empty object by default)
  std::optional<ConfigNode> optim_wrapper;     ///< `optim_wrapper`
  std::optional<ConfigValue> param_scheduler;  ///< `param_scheduler` (an object or a list)
  std::optional<ConfigNode> train_dataloader;  ///< `train_dataloader`
  /// `train_cfg` with `type` filled in from `by_epoch` (EpochBasedTrainLoop by default).
  std::optional<ConfigNode> train_loop;
  EvalLoopConfig val;   ///< `val_dataloader`, `val_cfg`, `val_evaluator`
  EvalLoopConfig test;  ///< `test_dataloader`, `test_cfg`, `test_evaluator`
  /// The hooks to register, in order: MMEngine's default hooks with `default_hooks` applied
  /// (paths `default_hooks.<key>`), then `custom_hooks` (paths `custom_hooks[i]`).
  std::vector<ConfigValue> hooks;
  /// `visualizer.vis_backends` (each with its `type`); LocalVisBackend alone when not given.
  std::vector<ConfigNode> vis_backends;
};

/// Reads and checks `cfg` (an object): unknown top-level keys (with a hint), MMEngine's
/// all-or-none key triples, the type of every key read later, env_cfg, randomness and
/// auto_scale_lr values. Errors are config Errors naming the JSON path. Touches nothing outside
/// the returned value (no files, no process settings).
RunnerConfig parse_runner_config(const nlohmann::json& cfg, const std::string& cfg_path);

}  // namespace mmhook
