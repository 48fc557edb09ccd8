#include "mmhook/hooks/closure_hook.h"

namespace mmhook {

ClosureHook::ClosureHook(Stage stage, Fn fn) : stage_(stage), fn_(std::move(fn)) {
  MMHOOK_CHECK(static_cast<int>(stage) >= 0 && static_cast<int>(stage) < kNumStages,
               "ClosureHook: invalid stage ", static_cast<int>(stage));
  MMHOOK_CHECK(static_cast<bool>(fn_), "ClosureHook: the function for stage ", stage_name(stage),
               " is empty");
}

void ClosureHook::fire(Stage s, Runner& r, const StageArgs& args) {
  if (s == stage_) fn_(r, args);
}

void ClosureHook::before_run(Runner& r) { fire(Stage::kBeforeRun, r, {}); }
void ClosureHook::after_run(Runner& r) { fire(Stage::kAfterRun, r, {}); }
void ClosureHook::before_train(Runner& r) { fire(Stage::kBeforeTrain, r, {}); }
void ClosureHook::after_train(Runner& r) { fire(Stage::kAfterTrain, r, {}); }
void ClosureHook::before_val(Runner& r) { fire(Stage::kBeforeVal, r, {}); }
void ClosureHook::after_val(Runner& r) { fire(Stage::kAfterVal, r, {}); }
void ClosureHook::before_test(Runner& r) { fire(Stage::kBeforeTest, r, {}); }
void ClosureHook::after_test(Runner& r) { fire(Stage::kAfterTest, r, {}); }

void ClosureHook::after_load_checkpoint(Runner& r, Checkpoint& checkpoint) {
  StageArgs a;
  a.checkpoint = &checkpoint;
  fire(Stage::kAfterLoadCheckpoint, r, a);
}
void ClosureHook::before_save_checkpoint(Runner& r, Checkpoint& checkpoint) {
  StageArgs a;
  a.checkpoint = &checkpoint;
  fire(Stage::kBeforeSaveCheckpoint, r, a);
}
void ClosureHook::on_exception(Runner& r, const std::string& message) {
  StageArgs a;
  a.message = &message;
  fire(Stage::kOnException, r, a);
}

void ClosureHook::before_train_epoch(Runner& r) { fire(Stage::kBeforeTrainEpoch, r, {}); }
void ClosureHook::before_val_epoch(Runner& r) { fire(Stage::kBeforeValEpoch, r, {}); }
void ClosureHook::before_test_epoch(Runner& r) { fire(Stage::kBeforeTestEpoch, r, {}); }
void ClosureHook::after_train_epoch(Runner& r) { fire(Stage::kAfterTrainEpoch, r, {}); }
void ClosureHook::after_val_epoch(Runner& r, const Metrics& metrics) {
  StageArgs a;
  a.metrics = &metrics;
  fire(Stage::kAfterValEpoch, r, a);
}
void ClosureHook::after_test_epoch(Runner& r, const Metrics& metrics) {
  StageArgs a;
  a.metrics = &metrics;
  fire(Stage::kAfterTestEpoch, r, a);
}

namespace {
StageArgs iter_args(int64_t batch_idx, const TensorDict& data_batch,
                    const TensorDict* outputs = nullptr) {
  StageArgs a;
  a.batch_idx = batch_idx;
  a.data_batch = &data_batch;
  a.outputs = outputs;
  return a;
}
}  // namespace

void ClosureHook::before_train_iter(Runner& r, int64_t i, const TensorDict& b) {
  fire(Stage::kBeforeTrainIter, r, iter_args(i, b));
}
void ClosureHook::before_val_iter(Runner& r, int64_t i, const TensorDict& b) {
  fire(Stage::kBeforeValIter, r, iter_args(i, b));
}
void ClosureHook::before_test_iter(Runner& r, int64_t i, const TensorDict& b) {
  fire(Stage::kBeforeTestIter, r, iter_args(i, b));
}
void ClosureHook::after_train_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) {
  fire(Stage::kAfterTrainIter, r, iter_args(i, b, &o));
}
void ClosureHook::after_val_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) {
  fire(Stage::kAfterValIter, r, iter_args(i, b, &o));
}
void ClosureHook::after_test_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) {
  fire(Stage::kAfterTestIter, r, iter_args(i, b, &o));
}

}  // namespace mmhook
