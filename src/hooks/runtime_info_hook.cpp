#include "mmhook/hooks/runtime_info_hook.h"

#include <nlohmann/json.hpp>

#include "hooks/builtin_hooks.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/data/dataset.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/optim/optim_wrapper.h"
#include "mmhook/version.h"

namespace mmhook {

void RuntimeInfoHook::before_run(Runner& runner) {
  MessageHub& hub = runner.message_hub();
  hub.update_info("cfg", runner.cfg().dump(2));
  hub.update_info("seed", runner.seed());
  hub.update_info("experiment_name", runner.experiment_name());
  hub.update_info("mmengine_version", std::string("mmhook ") + kVersionString);
  had_last_loop_stage_ = false;
}

void RuntimeInfoHook::before_train(Runner& runner) {
  MessageHub& hub = runner.message_hub();
  hub.update_info("loop_stage", "train");
  hub.update_info("epoch", runner.epoch());
  hub.update_info("iter", runner.iter());
  hub.update_info("max_epochs", runner.max_epochs());
  hub.update_info("max_iters", runner.max_iters());
  hub.update_info("dataset_meta", runner.train_loop().dataloader().dataset().metainfo());
}

void RuntimeInfoHook::after_train(Runner& runner) { runner.message_hub().pop_info("loop_stage"); }

void RuntimeInfoHook::before_train_epoch(Runner& runner) {
  runner.message_hub().update_info("epoch", runner.epoch());
}

void RuntimeInfoHook::before_train_iter(Runner& runner, int64_t, const TensorDict&) {
  MessageHub& hub = runner.message_hub();
  hub.update_info("iter", runner.iter());
  runner.optim_wrapper().get_lr_into(lrs_);
  size_t i = 0;
  for (const auto& [name, values] : lrs_) {
    if (i >= lr_keys_.size()) lr_keys_.push_back("train/" + name);
    if (!values.empty()) hub.update_scalar(lr_keys_[i], values[0]);
    ++i;
  }
}

void RuntimeInfoHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                       const TensorDict& outputs) {
  MessageHub& hub = runner.message_hub();
  size_t i = 0;
  for (const auto& [name, value] : outputs) {
    if (i >= output_keys_.size() || output_keys_[i].compare(6, std::string::npos, name) != 0) {
      output_keys_.resize(i);
      output_keys_.push_back("train/" + name);
    }
    // Lazy: read when the hub is next read (logging, checkpoint), not every iteration, so the
    // loop never waits on the device here; the history is the same as with .item() now.
    hub.update_scalar_lazy(output_keys_[i], value.requires_grad() ? value.detach() : value);
    ++i;
  }
}

void RuntimeInfoHook::before_val(Runner& runner) {
  MessageHub& hub = runner.message_hub();
  had_last_loop_stage_ = hub.has_info("loop_stage");
  last_loop_stage_ = had_last_loop_stage_ ? hub.get_info("loop_stage").get<std::string>() : "";
  hub.update_info("loop_stage", "val");
}

void RuntimeInfoHook::after_val(Runner& runner) {
  MessageHub& hub = runner.message_hub();
  if (had_last_loop_stage_ && last_loop_stage_ == "train") {
    hub.update_info("loop_stage", "train");
  } else {
    hub.pop_info("loop_stage");
  }
}

void RuntimeInfoHook::before_test(Runner& runner) {
  runner.message_hub().update_info("loop_stage", "test");
}

void RuntimeInfoHook::after_test(Runner& runner) { runner.message_hub().pop_info("loop_stage"); }

void RuntimeInfoHook::after_val_epoch(Runner& runner, const Metrics& metrics) {
  for (const auto& [k, v] : metrics) runner.message_hub().update_scalar("val/" + k, v);
}

void RuntimeInfoHook::after_test_epoch(Runner& runner, const Metrics& metrics) {
  for (const auto& [k, v] : metrics) runner.message_hub().update_scalar("test/" + k, v);
}

void detail::register_runtime_info_hook(Registry<Hook>& registry) {
  add_hook_without_options<RuntimeInfoHook>(registry, "RuntimeInfoHook");
}

}  // namespace mmhook
