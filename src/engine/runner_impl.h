#pragma once

// The Runner's state, shared by the files that implement it: runner.cpp (construction, the run
// flow, accessors) and runner_checkpoint.cpp (save, load, resume). The builders that make its
// parts (runner_builders.h) take the Runner's public interface only.

#include <memory>
#include <string>
#include <vector>

#include "engine/work_dir_lock.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/runner.h"
#include "mmhook/engine/runner_config.h"
#include "mmhook/logging/run_logger.h"

namespace mmhook {

struct Runner::Impl {
  explicit Impl(RunnerConfig config);  // in runner.cpp, where every member's type is complete

  // First member, so destroyed last: the work_dir stays locked until everything else is done.
  std::unique_ptr<WorkDirLock> work_dir_lock;
  RunnerConfig cfg;
  std::string log_dir, timestamp, experiment_name;
  int64_t seed = 0;
  std::unique_ptr<RunLogger> log;
  std::unique_ptr<MessageHub> message_hub;
  std::unique_ptr<LogProcessor> log_processor;
  std::vector<std::shared_ptr<VisBackend>> vis_backends;
  std::shared_ptr<BaseModel> model;
  std::shared_ptr<OptimWrapper> optim_wrapper;
  std::vector<std::shared_ptr<ParamScheduler>> param_schedulers;
  bool schedulers_built = false;
  std::shared_ptr<TrainLoop> train_loop;
  std::shared_ptr<EvalLoop> val_loop, test_loop;
  Dispatcher dispatcher;
  bool has_loaded = false;
  std::string current_error;
  bool in_after_run = false;
  bool running = false;  // inside train/val/test: no nested run, no hook (un)registration
  Metrics last_metrics;
};

/// `%Y%m%d_%H%M%S`, local time (the run's timestamp, a checkpoint's meta "time").
std::string make_timestamp();

}  // namespace mmhook
