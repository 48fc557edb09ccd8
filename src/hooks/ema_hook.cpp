#include "mmhook/hooks/ema_hook.h"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/engine/runner.h"
#include "mmhook/engine/runner_config.h"
#include "mmhook/model/base_model.h"

namespace mmhook {
namespace {

constexpr const char* kEmaStateDictKey = "ema_state_dict";
constexpr const char* kModulePrefix = "module.";

// MMEngine's `_swap_ema_state_dict`: exchanges every `module.<name>` entry of `ema_state_dict`
// with `state_dict[<name>]`.
void swap_ema_state_dict(Checkpoint& checkpoint) {
  MMHOOK_CHECK_CODE(checkpoint.contains(kCheckpointStateDictKey), Code::kCheckpoint,
                    "EMAHook: the checkpoint has '", kEmaStateDictKey, "' but no '",
                    kCheckpointStateDictKey, "'");
  c10::impl::GenericDict model_state = checkpoint.get(kCheckpointStateDictKey).toGenericDict();
  c10::impl::GenericDict ema_state = checkpoint.get(kEmaStateDictKey).toGenericDict();
  const std::string prefix = kModulePrefix;
  std::vector<std::string> keys;
  for (const auto& entry : ema_state) {
    MMHOOK_CHECK_CODE(entry.key().isString(), Code::kCheckpoint,
                      "EMAHook: ema_state_dict keys must be strings");
    keys.push_back(entry.key().toStringRef());
  }
  for (const auto& key : keys) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = key.substr(prefix.size());
    MMHOOK_CHECK_CODE(model_state.contains(name), Code::kCheckpoint,
                      "EMAHook: ema_state_dict has '", key, "' but state_dict has no '", name, "'");
    c10::IValue tmp = ema_state.at(key);
    ema_state.insert_or_assign(key, model_state.at(name));
    model_state.insert_or_assign(name, tmp);
  }
}

}  // namespace

EMAHook::EMAHook(EMAHookOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  MMHOOK_CHECK(o.begin_iter >= 0, "EMAHook.begin_iter must be >= 0, got ", o.begin_iter);
  MMHOOK_CHECK(o.begin_epoch >= 0, "EMAHook.begin_epoch must be >= 0, got ", o.begin_epoch);
  MMHOOK_CHECK(o.begin_iter == 0 || o.begin_epoch == 0,
               "EMAHook: `begin_iter` and `begin_epoch` should not be both set, got begin_iter=",
               o.begin_iter, " and begin_epoch=", o.begin_epoch);
  const auto types = averaged_model_types();
  MMHOOK_CHECK(std::find(types.begin(), types.end(), o.ema_type) != types.end(),
               "EMAHook.ema_type must be one of ExponentialMovingAverage, MomentumAnnealingEMA, "
               "StochasticWeightAverage, got '",
               o.ema_type, "'");
  MMHOOK_CHECK(o.interval >= 1, "EMAHook.interval must be >= 1, got ", o.interval);
  if (o.momentum) {
    MMHOOK_CHECK(o.ema_type != "StochasticWeightAverage",
                 "EMAHook.momentum is not an option of StochasticWeightAverage, got ", *o.momentum);
    MMHOOK_CHECK(*o.momentum > 0.0 && *o.momentum < 1.0,
                 "EMAHook.momentum must be in range (0.0, 1.0), got ", *o.momentum);
  }
  if (o.gamma) {
    MMHOOK_CHECK(o.ema_type == "MomentumAnnealingEMA",
                 "EMAHook.gamma is only an option of MomentumAnnealingEMA (ema_type is ",
                 o.ema_type, "), got ", *o.gamma);
    MMHOOK_CHECK(*o.gamma > 0.0, "EMAHook.gamma must be greater than 0, got ", *o.gamma);
  }
  if (o.device) {
    try {
      (void)c10::Device(*o.device);
    } catch (const std::exception&) {
      MMHOOK_THROW(Code::kInvalidArgument,
                   "EMAHook.device must be a device such as 'cpu' or "
                   "'cuda:0', got '",
                   *o.device, "'");
    }
  }
}

AveragedModel& EMAHook::ema(const char* stage) const {
  MMHOOK_CHECK_CODE(ema_ != nullptr, Code::kFailedPrecondition, "EMAHook.", stage,
                    ": the EMA model is built in before_run, which has not run");
  return *ema_;
}

void EMAHook::before_run(Runner& runner) {
  AveragedModelOptions mo;
  mo.momentum = options_.momentum;
  mo.gamma = options_.gamma;
  mo.interval = options_.interval;
  mo.update_buffers = options_.update_buffers;
  mo.device = options_.device;
  ema_ = build_averaged_model(options_.ema_type, runner.model(), mo);
}

void EMAHook::before_train(Runner& runner) {
  if (enabled_by_epoch()) {
    MMHOOK_CHECK(options_.begin_epoch <= runner.max_epochs(),
                 "EMAHook: self.begin_epoch should be smaller than or equal to runner.max_epochs: ",
                 runner.max_epochs(), ", but got begin: ", options_.begin_epoch);
  } else {
    MMHOOK_CHECK(options_.begin_iter <= runner.max_iters(),
                 "EMAHook: self.begin_iter should be smaller than or equal to runner.max_iters: ",
                 runner.max_iters(), ", but got begin: ", options_.begin_iter);
  }
}

void EMAHook::after_train_iter(Runner& runner, int64_t, const TensorDict&, const TensorDict&) {
  AveragedModel& avg = ema("after_train_iter");
  const bool started = enabled_by_epoch() ? runner.epoch() + 1 >= options_.begin_epoch
                                          : runner.iter() + 1 >= options_.begin_iter;
  if (started) {
    avg.update_parameters(runner.model());
  } else {
    // Before the start the average follows the model exactly (every tensor, steps untouched).
    avg.copy_from(runner.model());
  }
}

void EMAHook::swap(Runner& runner, const char* stage) { ema(stage).swap_with(runner.model()); }

void EMAHook::before_val_epoch(Runner& runner) { swap(runner, "before_val_epoch"); }

void EMAHook::after_val_epoch(Runner& runner, const Metrics&) { swap(runner, "after_val_epoch"); }

void EMAHook::before_test_epoch(Runner& runner) { swap(runner, "before_test_epoch"); }

void EMAHook::after_test_epoch(Runner& runner, const Metrics&) { swap(runner, "after_test_epoch"); }

void EMAHook::before_save_checkpoint(Runner&, Checkpoint& checkpoint) {
  checkpoint.set(kEmaStateDictKey, ema("before_save_checkpoint").state_dict());
  swap_ema_state_dict(checkpoint);
}

void EMAHook::after_load_checkpoint(Runner& runner, Checkpoint& checkpoint) {
  AveragedModel& avg = ema("after_load_checkpoint");
  // MMEngine's `runner._resume`: the config's `resume` flag.
  const bool resuming = runner.config().resume;
  if (resuming && checkpoint.contains(kEmaStateDictKey)) {
    // Undo the swap of before_save_checkpoint: state_dict gets the training weights back.
    swap_ema_state_dict(checkpoint);
    avg.load_state_dict(checkpoint.get(kEmaStateDictKey).toGenericDict(), options_.strict_load);
    return;
  }
  if (resuming)
    spdlog::warn(
        "There is no `ema_state_dict` in checkpoint. `EMAHook` will make a copy of `state_dict` "
        "as the initial `ema_state_dict`");
  MMHOOK_CHECK_CODE(checkpoint.contains(kCheckpointStateDictKey), Code::kCheckpoint,
                    "EMAHook: the checkpoint has no '", kCheckpointStateDictKey, "'");
  avg.load_module_state_dict(checkpoint.get(kCheckpointStateDictKey).toGenericDict(),
                             options_.strict_load);
}

void detail::register_ema_hook(Registry<Hook>& registry) {
  registry.add("EMAHook", [](const ConfigNode& cfg) -> std::shared_ptr<Hook> {
    EMAHookOptions o;
    o.ema_type = cfg.get<std::string>("ema_type", o.ema_type);
    o.strict_load = cfg.get<bool>("strict_load", o.strict_load);
    o.begin_iter = cfg.get<int64_t>("begin_iter", o.begin_iter);
    o.begin_epoch = cfg.get<int64_t>("begin_epoch", o.begin_epoch);
    o.momentum = cfg.get_optional<double>("momentum");
    o.gamma = cfg.get_optional<double>("gamma");
    o.interval = cfg.get<int64_t>("interval", o.interval);
    o.update_buffers = cfg.get<bool>("update_buffers", o.update_buffers);
    o.device = cfg.get_optional<std::string>("device");
    return std::make_shared<EMAHook>(o);
  });
}

}  // namespace mmhook
