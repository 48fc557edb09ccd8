// Exact resume of a run stopped mid-epoch or mid-pass (as `mmhook train` stops on SIGINT): the
// resumed run continues at the next batch, in the same sample order and with the same
// augmentation, and ends bit-identical to an uninterrupted run (parameters, optimizer state,
// schedulers, RNG), whether the data loader has worker threads or not. Also: a stop request
// during validation ends the pass after the current batch.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <tuple>

#include <torch/types.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/data/dataset.h"
#include "mmhook/data/transforms.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/priority.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"
#include "mmhook/scheduler/param_scheduler.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

// 24 two-class samples [sin(i), cos(i)], target i % 2, flipped left-right at random (RandomFlip
// seeded per sample by the sampler): the sample order and the augmentation both reach the
// parameters.
class FlipDataset : public Dataset {
 public:
  int64_t size() const override { return 24; }
  TensorDict get(int64_t index, uint64_t sample_seed) const override {
    static const std::vector<std::shared_ptr<Transform>> flip = {std::make_shared<RandomFlip>()};
    const double x = static_cast<double>(index);
    const at::Tensor image =
        torch::tensor({static_cast<float>(std::sin(x)), static_cast<float>(std::cos(x))})
            .view({1, 1, 2});
    TensorDict d;
    d.set("inputs", apply_transforms(flip, image, sample_seed).view({2}));
    d.set("targets", torch::tensor(index % 2, torch::kLong));
    return d;
  }
};

void register_flip_dataset() {
  static const bool done = [] {
    dataset_registry().add("ExactResumeFlipDataset",
                           [](const ConfigNode&) -> std::shared_ptr<Dataset> {
                             return std::make_shared<FlipDataset>();
                           });
    return true;
  }();
  (void)done;
}

nlohmann::json loader(int64_t workers, bool shuffle) {
  return {{"batch_size", 3},
          {"num_workers", workers},
          {"sampler", {{"type", "DefaultSampler"}, {"shuffle", shuffle}}},
          {"dataset", {{"type", "ExactResumeFlipDataset"}}}};
}

// Dropout (global RNG), momentum (optimizer state), a by-iteration and a by-epoch scheduler, a
// shuffled sampler with random flips, validation. Epoch mode: 3 epochs of 8 batches; iteration
// mode: 20 iterations over a finite sampler (8 batches per pass), validating every 8.
nlohmann::json config(const std::string& work_dir, bool by_epoch, int64_t workers) {
  register_flip_dataset();
  nlohmann::json cfg = by_epoch ? testing::epoch_config(work_dir) : testing::iter_config(work_dir);
  cfg["model"] = {{"type", "MLPClassifier"},
                  {"in_channels", 2},
                  {"hidden_dims", {8}},
                  {"num_classes", 2},
                  {"dropout", 0.5}};
  cfg["train_dataloader"] = loader(workers, true);
  cfg["val_dataloader"] = loader(workers, false);
  cfg["test_dataloader"] = loader(0, false);
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}};
  if (by_epoch) {
    cfg["train_cfg"] = {{"by_epoch", true}, {"max_epochs", 3}, {"val_interval", 1}};
    cfg["param_scheduler"] = {
        {{"type", "LinearLR"}, {"start_factor", 0.25}, {"by_epoch", false}, {"end", 10}},
        {{"type", "MultiStepLR"}, {"by_epoch", true}, {"milestones", {2}}, {"gamma", 0.5}}};
  } else {
    cfg["train_cfg"] = {{"by_epoch", false}, {"max_iters", 20}, {"val_interval", 8}};
    cfg["param_scheduler"] = {
        {{"type", "LinearLR"}, {"start_factor", 0.25}, {"by_epoch", false}, {"end", 10}},
        {{"type", "MultiStepLR"}, {"by_epoch", false}, {"milestones", {13}}, {"gamma", 0.5}}};
  }
  return cfg;
}

// Stops the run after `at` iterations, as a signal would.
class StopAfter : public HookImpl<StopAfter> {
 public:
  explicit StopAfter(int64_t at) : at_(at) {}
  void after_train_iter(Runner& r, int64_t, const TensorDict&, const TensorDict&) override {
    if (r.iter() + 1 == at_) r.request_stop();
  }

 private:
  int64_t at_;
};

// What `mmhook train`'s InterruptHook does at after_train: iter_<N>.pth with the counters as
// they are (meta epoch = epochs finished, iter = iterations done) and last_checkpoint naming it.
class SaveLikeInterrupt : public HookImpl<SaveLikeInterrupt> {
 public:
  void after_train(Runner& r) override {
    SaveCheckpointOptions opt;
    opt.meta_epoch = r.epoch();
    opt.meta_iter = r.iter();
    const std::string name = "iter_" + std::to_string(r.iter()) + ".pth";
    r.save_checkpoint(r.work_dir(), name, opt);
    write_file_atomic(r.work_dir() + "/last_checkpoint", r.work_dir() + "/" + name);
  }
};

// Everything a continued run carries: counters, parameters and buffers, optimizer state,
// scheduler states, the global RNG.
struct Final {
  int64_t epoch = 0, iter = 0;
  c10::IValue model, optimizer, schedulers, rng;
};

Final final_state(Runner& r) {
  Final f;
  f.epoch = r.epoch();
  f.iter = r.iter();
  f.model = module_state_dict(r.model());
  f.optimizer = r.optim_wrapper().state_dict();
  c10::impl::GenericList list(c10::AnyType::get());
  for (const auto& s : r.param_schedulers()) list.push_back(s->state_dict());
  f.schedulers = list;
  f.rng = capture_rng_state();
  return f;
}

// Bit equality of two state trees (dicts, lists, tensors, scalars), naming the first path that
// differs.
void expect_identical(const c10::IValue& a, const c10::IValue& b, const std::string& path) {
  ASSERT_EQ(a.tagKind(), b.tagKind()) << path;
  if (a.isTensor()) {
    const at::Tensor& x = a.toTensor();
    const at::Tensor& y = b.toTensor();
    EXPECT_TRUE(x.sizes() == y.sizes() && x.dtype() == y.dtype() && torch::equal(x, y))
        << path << " differs";
  } else if (a.isGenericDict()) {
    const auto da = a.toGenericDict();
    const auto db = b.toGenericDict();
    ASSERT_EQ(da.size(), db.size()) << path;
    for (const auto& entry : da) {
      const std::string key =
          entry.key().isString() ? entry.key().toStringRef() : std::to_string(entry.key().toInt());
      ASSERT_TRUE(db.contains(entry.key())) << path << "." << key << " missing";
      expect_identical(entry.value(), db.at(entry.key()), path + "." + key);
    }
  } else if (a.isList()) {
    const auto la = a.toList();
    const auto lb = b.toList();
    ASSERT_EQ(la.size(), lb.size()) << path;
    for (size_t i = 0; i < la.size(); ++i)
      expect_identical(la.get(i), lb.get(i), path + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_TRUE(a == b) << path << ": " << a << " vs " << b;
  }
}

// (by_epoch, num_workers of the interrupted run, iterations before the stop)
class ExactResumeTest : public ::testing::TestWithParam<std::tuple<bool, int64_t, int64_t>> {};

TEST_P(ExactResumeTest, StoppedRunResumesBitIdentical) {
  const auto [by_epoch, workers, stop_at] = GetParam();
  TempDir dir;
  Final straight;
  int64_t straight_iters = 0, straight_vals = 0;
  {
    // The reference loads in the consumer's thread: workers must not change a thing.
    Runner runner(config(dir / "straight", by_epoch, 0));
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    straight = final_state(runner);
    straight_iters = static_cast<int64_t>(rec->of("after_train_iter").size());
    straight_vals = static_cast<int64_t>(rec->of("after_val_epoch").size());
  }
  int64_t first_iters = 0, first_vals = 0;
  {
    Runner runner(config(dir / "split", by_epoch, workers));
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.register_hook(std::make_shared<StopAfter>(stop_at));
    runner.register_hook(std::make_shared<SaveLikeInterrupt>(),
                         static_cast<int>(Priority::kLowest));
    runner.train();
    ASSERT_EQ(runner.iter(), stop_at);
    first_iters = static_cast<int64_t>(rec->of("after_train_iter").size());
    first_vals = static_cast<int64_t>(rec->of("after_val_epoch").size());
  }
  Final resumed;
  {
    auto cfg = config(dir / "split", by_epoch, workers);
    cfg["resume"] = true;
    Runner runner(cfg);
    auto rec = std::make_shared<testing::RecordingHook>();
    runner.register_hook(rec);
    runner.train();
    resumed = final_state(runner);
    const auto iters = rec->of("before_train_iter");
    EXPECT_EQ(first_iters + static_cast<int64_t>(iters.size()), straight_iters);
    EXPECT_EQ(first_vals + static_cast<int64_t>(rec->of("after_val_epoch").size()), straight_vals);
    if (!iters.empty()) {
      EXPECT_EQ(iters.front().iter, stop_at);
      // batch_idx continues within the epoch (iteration mode: it is the iteration).
      EXPECT_EQ(iters.front().batch_idx, by_epoch ? stop_at % 8 : stop_at);
    }
    if (by_epoch) {
      // The interrupted epoch is entered again and finished once.
      const int64_t stopped_in = (stop_at - 1) / 8;  // 0-based epoch of the last iteration
      EXPECT_EQ(rec->of("before_train_epoch").front().epoch, stopped_in);
      EXPECT_EQ(rec->of("after_train_epoch").size(), static_cast<size_t>(3 - stopped_in));
    }
  }
  EXPECT_EQ(resumed.epoch, straight.epoch);
  EXPECT_EQ(resumed.iter, straight.iter);
  expect_identical(straight.model, resumed.model, "state_dict");
  expect_identical(straight.optimizer, resumed.optimizer, "optimizer");
  expect_identical(straight.schedulers, resumed.schedulers, "param_schedulers");
  expect_identical(straight.rng, resumed.rng, "rng_state");
}

INSTANTIATE_TEST_SUITE_P(
    Loops, ExactResumeTest,
    ::testing::Values(std::make_tuple(true, 0, 11),   // mid-epoch 2
                      std::make_tuple(true, 2, 11),   // the same with loader workers
                      std::make_tuple(true, 0, 16),   // right after the last batch of epoch 2
                      std::make_tuple(true, 2, 3),    // mid-epoch 1
                      std::make_tuple(false, 0, 11),  // mid-pass 2
                      std::make_tuple(false, 2, 11)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) ? "Epoch" : "Iter") + "Workers" +
             std::to_string(std::get<1>(info.param)) + "StopAt" +
             std::to_string(std::get<2>(info.param));
    });

// A checkpoint written by a by-iteration CheckpointHook inside an epoch-based run is mid-epoch
// as well (meta iter = iterations done, epoch = epochs finished): resuming it continues there.
TEST(ExactResumeTest, ByIterationCheckpointOfAnEpochRunContinuesMidEpoch) {
  TempDir dir;
  Final straight;
  {
    Runner runner(config(dir / "straight", true, 0));
    runner.train();
    straight = final_state(runner);
  }
  {
    auto cfg = config(dir / "split", true, 0);
    cfg["default_hooks"] = {
        {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 5}, {"by_epoch", false}}}};
    Runner runner(cfg);
    runner.register_hook(std::make_shared<StopAfter>(12));
    runner.train();
  }
  auto cfg = config(dir / "split", true, 0);
  cfg["load_from"] = dir / "split/iter_10.pth";
  cfg["resume"] = true;
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  ASSERT_FALSE(rec->of("before_train_iter").empty());
  EXPECT_EQ(rec->of("before_train_iter").front().iter, 10);
  EXPECT_EQ(rec->of("before_train_iter").front().batch_idx, 2);
  EXPECT_EQ(rec->of("before_train_iter").size(), 14u);
  const Final resumed = final_state(runner);
  expect_identical(straight.model, resumed.model, "state_dict");
  expect_identical(straight.optimizer, resumed.optimizer, "optimizer");
}

// -- a stop request during validation ---------------------------------------------------------

// Requests a stop after the second batch of the first validation pass.
class StopAtValBatch : public HookImpl<StopAtValBatch> {
 public:
  void after_val_iter(Runner& r, int64_t batch_idx, const TensorDict&, const TensorDict&) override {
    if (batch_idx == 1 && !fired_) {
      fired_ = true;
      r.request_stop();
    }
  }

 private:
  bool fired_ = false;
};

TEST(ValStopTest, StopRequestDuringValidationEndsThePassAfterThatBatch) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 3;
  // A monitor that would throw on missing metrics if a partial pass reached it.
  cfg["custom_hooks"] = {{{"type", "EarlyStoppingHook"}, {"monitor", "acc"}, {"strict", true}}};
  cfg["default_hooks"] = {
      {"checkpoint",
       {{"type", "CheckpointHook"}, {"interval", 1}, {"save_best", "acc"}, {"rule", "greater"}}}};
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.register_hook(std::make_shared<StopAtValBatch>());
  runner.train();
  // 4 validation batches; the stop lands after the second of the first pass.
  EXPECT_EQ(rec->of("after_val_iter").size(), 2u);
  EXPECT_EQ(rec->of("after_train_epoch").size(), 1u);
  EXPECT_TRUE(runner.val_loop().interrupted());
  // after_val_epoch still ran (hooks undo what before_val_epoch did), with no metrics.
  ASSERT_EQ(rec->of("after_val_epoch").size(), 1u);
  EXPECT_TRUE(rec->last_metrics.empty());
  EXPECT_TRUE(runner.last_metrics().empty());
  EXPECT_EQ(rec->of("after_val").size(), 1u);
  EXPECT_EQ(rec->names().back(), "after_run");
  // No best checkpoint from a partial pass; training did not continue.
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_NE(e.path().filename().string().rfind("best_", 0), 0u) << e.path();
  EXPECT_EQ(runner.epoch(), 1);
  EXPECT_EQ(runner.iter(), 4);

  // The next pass on the same runner is whole again.
  const Metrics metrics = runner.val();
  EXPECT_FALSE(runner.val_loop().interrupted());
  EXPECT_FALSE(metrics.empty());
}

}  // namespace
}  // namespace mmhook
