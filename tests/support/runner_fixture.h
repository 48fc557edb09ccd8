#pragma once
// Shared test fixture: the ToyDataset/ToyModel/ToyMetric runner of docs/design.md §A8 (MMEngine's
// RunnerTestCase), a temporary directory, and a hook that records every stage call.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/engine/hook.h"
#include "mmhook/engine/runner.h"

namespace mmhook::testing {

/// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  /// The directory's path.
  const std::string& path() const { return path_; }
  /// path()/name.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// The standard epoch-based toy config: 12 samples, batch 3 (4 iters/epoch), SGD lr 0.1,
/// max_epochs 2, val every epoch, a test loop, seed 0, no shuffling.
nlohmann::json epoch_config(const std::string& work_dir);
/// The standard iteration-based toy config: max_iters 12, InfiniteSampler, log by iter,
/// CheckpointHook(interval 12, by_epoch false).
nlohmann::json iter_config(const std::string& work_dir);

/// One recorded stage call.
struct StageCall {
  std::string stage;
  int64_t epoch;
  int64_t iter;
  int64_t batch_idx;  // -1 outside iteration stages
  bool operator==(const StageCall& o) const {
    return stage == o.stage && epoch == o.epoch && iter == o.iter && batch_idx == o.batch_idx;
  }
};
std::ostream& operator<<(std::ostream& os, const StageCall& c);

/// Records every stage it sees, with the runner's counters at that moment.
class RecordingHook : public HookImpl<RecordingHook> {
 public:
  std::vector<StageCall> calls;
  /// The calls of one stage.
  std::vector<StageCall> of(const std::string& stage) const;
  /// The stage names in order.
  std::vector<std::string> names() const;

  void before_run(Runner& r) override { add(r, "before_run"); }
  void after_run(Runner& r) override { add(r, "after_run"); }
  void before_train(Runner& r) override { add(r, "before_train"); }
  void after_train(Runner& r) override { add(r, "after_train"); }
  void before_val(Runner& r) override { add(r, "before_val"); }
  void after_val(Runner& r) override { add(r, "after_val"); }
  void before_test(Runner& r) override { add(r, "before_test"); }
  void after_test(Runner& r) override { add(r, "after_test"); }
  void after_load_checkpoint(Runner& r, Checkpoint&) override { add(r, "after_load_checkpoint"); }
  void before_save_checkpoint(Runner& r, Checkpoint&) override { add(r, "before_save_checkpoint"); }
  void on_exception(Runner& r, const std::string& m) override {
    add(r, "on_exception");
    last_error = m;
  }
  void before_train_epoch(Runner& r) override { add(r, "before_train_epoch"); }
  void before_val_epoch(Runner& r) override { add(r, "before_val_epoch"); }
  void before_test_epoch(Runner& r) override { add(r, "before_test_epoch"); }
  void after_train_epoch(Runner& r) override { add(r, "after_train_epoch"); }
  void after_val_epoch(Runner& r, const Metrics& m) override {
    add(r, "after_val_epoch");
    last_metrics = m;
  }
  void after_test_epoch(Runner& r, const Metrics& m) override {
    add(r, "after_test_epoch");
    last_metrics = m;
  }
  void before_train_iter(Runner& r, int64_t i, const TensorDict&) override {
    add(r, "before_train_iter", i);
  }
  void before_val_iter(Runner& r, int64_t i, const TensorDict&) override {
    add(r, "before_val_iter", i);
  }
  void before_test_iter(Runner& r, int64_t i, const TensorDict&) override {
    add(r, "before_test_iter", i);
  }
  void after_train_iter(Runner& r, int64_t i, const TensorDict&, const TensorDict&) override {
    add(r, "after_train_iter", i);
  }
  void after_val_iter(Runner& r, int64_t i, const TensorDict&, const TensorDict&) override {
    add(r, "after_val_iter", i);
  }
  void after_test_iter(Runner& r, int64_t i, const TensorDict&, const TensorDict&) override {
    add(r, "after_test_iter", i);
  }

  std::string last_error;
  Metrics last_metrics;

 private:
  void add(Runner& r, const char* stage, int64_t batch_idx = -1);
};

/// Flattened parameters of a module (for bit-exact comparisons).
std::vector<float> flat_params(Runner& runner);

}  // namespace mmhook::testing
