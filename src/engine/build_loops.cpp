// The Runner's loops from the config: MMEngine's `Runner.build_train_loop`, `build_val_loop` and
// `build_test_loop`, each with its dataloader (and evaluator).

#include <nlohmann/json.hpp>

#include "engine/runner_builders.h"
#include "mmhook/core/error.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/evaluator/evaluator.h"

namespace mmhook {

std::shared_ptr<TrainLoop> build_train_loop(Runner& runner, const RunnerConfig& cfg) {
  if (!cfg.train_loop || !cfg.train_dataloader)
    MMHOOK_THROW(Code::kFailedPrecondition,
                 "train loop should not be None: provide train_dataloader, train_cfg and "
                 "optim_wrapper to train");
  auto loader = build_data_loader(*cfg.train_dataloader, static_cast<uint64_t>(runner.seed()),
                                  runner.rank(), runner.world_size());
  return train_loop_registry().build(*cfg.train_loop, runner, loader);
}

std::shared_ptr<EvalLoop> build_eval_loop(Runner& runner, const EvalLoopConfig& cfg, bool test) {
  const char* prefix = test ? "test" : "val";
  if (!cfg.dataloader || !cfg.loop)
    MMHOOK_THROW(Code::kFailedPrecondition, prefix, " loop should not be None: provide ", prefix,
                 "_dataloader, ", prefix, "_cfg and ", prefix, "_evaluator");
  nlohmann::json loader_cfg = cfg.dataloader->json();
  // Distributed evaluation: every sample once (no round-up padding), so the metrics gathered
  // across ranks count each sample exactly once.
  if (runner.world_size() > 1 && loader_cfg.is_object()) {
    nlohmann::json& sampler = loader_cfg["sampler"];
    if (sampler.is_null()) sampler = nlohmann::json::object();
    if (sampler.is_object() && sampler.value("type", "DefaultSampler") == "DefaultSampler")
      sampler["round_up"] = false;
  }
  auto loader =
      build_data_loader(ConfigNode(std::move(loader_cfg), cfg.dataloader->path()),
                        static_cast<uint64_t>(runner.seed()), runner.rank(), runner.world_size());
  auto evaluator = build_evaluator(cfg.evaluator ? cfg.evaluator->value : nlohmann::json(),
                                   std::string(prefix) + "_evaluator");
  return eval_loop_registry().build(*cfg.loop, runner, loader, evaluator, test);
}

}  // namespace mmhook
