// Configs and datasets that used to crash the process that loaded the library, overflow a
// counter, or pass wrong numbers in silence: each is now an Error naming the JSON path.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include <torch/types.h>

#include "mmhook/data/dataset.h"
#include "mmhook/engine/env_setup.h"
#include "mmhook/model/base_model.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

std::string error_of(const nlohmann::json& cfg, bool train = true) {
  try {
    Runner runner(cfg);
    if (train) runner.train();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected: " << part;
}

TEST(HostileConfigTest, DeepNestingBuiltInCodeIsRefusedNotACrash) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  // Built level by level: nlohmann's recursive copy in the Runner crashed on this.
  nlohmann::json deep = nlohmann::json::array();
  for (int i = 0; i < 100000; ++i) {
    nlohmann::json outer = nlohmann::json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  cfg["model"]["extra"] = std::move(deep);
  const std::string msg = error_of(cfg, false);
  expect_contains(msg, "config: model.extra[0][0]");
  expect_contains(msg, "nested deeper than 256 levels");
}

TEST(HostileConfigTest, TopLevelMustBeAnObjectAndWorkDirNotEmpty) {
  expect_contains(error_of(nlohmann::json::array({1, 2}), false),
                  "config must be a JSON object, got an array");
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["work_dir"] = "";
  expect_contains(error_of(cfg, false), "work_dir: is empty");
}

TEST(HostileConfigTest, MaxEpochsThatOverflowTheIterationCounter) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = int64_t{1} << 62;  // x 4 iterations per epoch
  const std::string msg = error_of(cfg);
  expect_contains(msg, "train_cfg: max_epochs 4611686018427387904 x 4 iterations per epoch");
  expect_contains(msg, "overflows");
}

TEST(HostileConfigTest, ClipGradThatWouldFlipOrEraseGradients) {
  for (const double max_norm : {0.0, -1.0}) {
    TempDir dir;
    nlohmann::json cfg = testing::epoch_config(dir.path());
    cfg["optim_wrapper"]["clip_grad"] = {{"max_norm", max_norm}};
    expect_contains(error_of(cfg), "optim_wrapper.clip_grad.max_norm: must be a finite number > 0");
  }
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["optim_wrapper"]["clip_grad"] = {{"type", "value"}, {"clip_value", -0.5}};
  expect_contains(error_of(cfg), "optim_wrapper.clip_grad.clip_value: must be a finite number > 0");
}

TEST(HostileConfigTest, NumbersThatCannotBeRightNameTheirPath) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  // Used to fail inside the optimizer step with "value cannot be converted to type float
  // without overflow", naming nothing.
  cfg["optim_wrapper"]["optimizer"]["lr"] = 1e300;
  expect_contains(error_of(cfg), "optim_wrapper.optimizer.lr: must be within float's range");
  // An unsigned integer beyond int64 wrapped to a negative count.
  cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = uint64_t{18446744073709551615ULL};
  expect_contains(error_of(cfg), "train_cfg.max_epochs: integer 18446744073709551615 is beyond");
  // A schedule that turns the rate negative trained on with exit status 0.
  cfg = testing::epoch_config(dir.path());
  cfg["param_scheduler"] = {{"type", "StepLR"}, {"step_size", 1}, {"gamma", -1}};
  expect_contains(error_of(cfg), "param_scheduler.gamma: must be > 0, got -1");
  cfg["param_scheduler"] = nlohmann::json::array(
      {{{"type", "LinearLR"}, {"start_factor", 0.1}, {"end", 2}},
       {{"type", "CosineAnnealingLR"}, {"T_max", 2}, {"eta_min", -0.5}, {"begin", 2}}});
  expect_contains(error_of(cfg), "param_scheduler[1].eta_min: must be >= 0, got -0.5");
  cfg["param_scheduler"] = {{"type", "MultiStepLR"}, {"milestones", {1, -2}}};
  expect_contains(error_of(cfg), "param_scheduler.milestones: must be >= 0, got -2");
}

TEST(HostileConfigTest, ThreadCountsBeyondTheMachineAreRefused) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["env_cfg"] = {{"num_threads", 1000}};
  const std::string msg = error_of(cfg, false);
  expect_contains(msg,
                  "env_cfg.num_threads: must be at most " + std::to_string(max_intra_op_threads()));
  TempDir dir2;
  nlohmann::json cfg2 = testing::epoch_config(dir2.path());
  cfg2["train_dataloader"]["num_workers"] = 100000;
  expect_contains(error_of(cfg2, true), "train_dataloader.num_workers: must be in [0, 1024]");
}

// A dataset whose size comes from a callback that lies (as a C/Rust/Go len() can).
class HugeDataset : public Dataset {
 public:
  int64_t size() const override { return std::numeric_limits<int64_t>::max(); }
  TensorDict get(int64_t, uint64_t) const override { return {}; }
};

TEST(HostileConfigTest, DatasetSizeBeyondTheLimitIsAConfigError) {
  dataset_registry().add("HostileHugeDataset", [](const ConfigNode& cfg) {
    cfg.mark_used("type");
    return std::make_shared<HugeDataset>();
  });
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["train_dataloader"]["dataset"] = {{"type", "HostileHugeDataset"}};
  const std::string msg = error_of(cfg);
  expect_contains(msg, "train_dataloader.dataset: reports 9223372036854775807 samples");
  expect_contains(msg, "limit of 4294967296");
  dataset_registry().remove("HostileHugeDataset");
}

// 4 samples of 2 features with labels the model's 10 classes cannot name.
class BadLabelDataset : public Dataset {
 public:
  int64_t size() const override { return 4; }
  TensorDict get(int64_t index, uint64_t) const override {
    TensorDict d;
    d.set("inputs", torch::ones({2}));
    d.set("targets", torch::tensor(index == 2 ? int64_t{255} : int64_t{1}));
    return d;
  }
};

TEST(HostileConfigTest, LabelsOutsideTheModelsClassesAreNamedInTrainingAndValidation) {
  dataset_registry().add("HostileBadLabelDataset", [](const ConfigNode& cfg) {
    cfg.mark_used("type");
    return std::make_shared<BadLabelDataset>();
  });
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["model"] = {
      {"type", "MLPClassifier"}, {"in_channels", 2}, {"hidden_dims", {4}}, {"num_classes", 10}};
  for (const char* loader : {"train_dataloader", "val_dataloader", "test_dataloader"}) {
    cfg[loader]["dataset"] = {{"type", "HostileBadLabelDataset"}};
    cfg[loader]["batch_size"] = 4;
    cfg[loader]["sampler"] = {{"type", "DefaultSampler"}, {"shuffle", false}};
  }
  cfg["val_evaluator"] = {{"type", "Accuracy"}};
  cfg["test_evaluator"] = {{"type", "Accuracy"}};
  // Training: cross_entropy's "Target 255 is out of bounds" becomes a message about the data.
  expect_contains(
      error_of(cfg),
      "MLPClassifier: target 255 at batch position 2 is outside the model's 10 classes");
  // Testing: accuracy 0.0 with success before; now an error.
  std::string msg;
  try {
    Runner runner(cfg);
    runner.test();
  } catch (const Error& e) {
    msg = e.what();
  }
  expect_contains(msg, "Accuracy: target 255 at batch position 2 is outside the 10 classes");
  dataset_registry().remove("HostileBadLabelDataset");
}

// A model whose one parameter is frozen, like a TorchScript file saved without trainable
// weights: the first backward failed with "element 0 of tensors does not require grad".
class FrozenModel : public BaseModel {
 public:
  FrozenModel() : BaseModel("FrozenModel") {
    w_ = register_parameter("w", torch::ones({2}), /*requires_grad=*/false);
  }
  TensorDict forward_loss(const TensorDict& batch) override {
    TensorDict out;
    out.set("loss", (batch.at("inputs") * w_).sum());
    return out;
  }
  TensorDict forward_predict(const TensorDict& batch) override {
    TensorDict out;
    out.set("outputs", batch.at("inputs") * w_);
    return out;
  }

 private:
  at::Tensor w_;
};

TEST(HostileConfigTest, AModelWithNothingToTrainIsNamed) {
  model_registry().add("HostileFrozenModel", [](const ConfigNode& cfg) {
    cfg.mark_used("type");
    return std::make_shared<FrozenModel>();
  });
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["model"] = {{"type", "HostileFrozenModel"}};
  const std::string msg = error_of(cfg);
  expect_contains(msg, "optim_wrapper.optimizer: the model has no parameter that requires grad");
  model_registry().remove("HostileFrozenModel");
}

}  // namespace
}  // namespace mmhook
