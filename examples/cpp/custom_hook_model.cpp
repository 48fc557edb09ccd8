// A complete mmhook program in C++: a custom dataset, a custom model and a custom hook, each
// registered by type name, then named from a JSON config (MMEngine's keys) and trained.
//
//   custom_hook_model [WORK_DIR]      (default: ./work_dirs/custom_hook_model)
//
// The model fits y = 2x - 1 on 64 points. LossCurveHook records the mean training loss of every
// epoch and the program fails (exit 1) unless the loss fell at least tenfold, so the test suite
// notices when the example stops training.
#include <mmhook/data/dataset.h>
#include <mmhook/engine/hook.h>
#include <mmhook/engine/runner.h>
#include <mmhook/model/base_model.h>

#include <torch/nn/modules/linear.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

// ----------------------------------------------------------------------------------- dataset
// Sample i of N: inputs = [x] with x evenly spaced in [-1, 1], targets = [2x - 1].
class LineDataset : public mmhook::Dataset {
 public:
  explicit LineDataset(int64_t num_samples) : num_samples_(num_samples) {}
  int64_t size() const override { return num_samples_; }
  mmhook::TensorDict get(int64_t index, uint64_t /*sample_seed*/) const override {
    const float x = -1.0f + 2.0f * static_cast<float>(index) / static_cast<float>(num_samples_ - 1);
    mmhook::TensorDict sample;
    sample.set("inputs", torch::tensor({x}));
    sample.set("targets", torch::tensor({2.0f * x - 1.0f}));
    return sample;
  }

 private:
  int64_t num_samples_;
};

// ------------------------------------------------------------------------------------- model
// A one-feature linear regressor trained with the mean squared error. forward_loss returns the
// named losses (every key containing "loss" is summed into the total); forward_predict returns
// "outputs" for the val/test loops.
class LinearRegressor : public mmhook::BaseModel {
 public:
  explicit LinearRegressor(int64_t in_features) : BaseModel("LinearRegressor") {
    linear_ = register_module("linear", torch::nn::Linear(in_features, 1));
  }
  mmhook::TensorDict forward_loss(const mmhook::TensorDict& batch) override {
    mmhook::TensorDict losses;
    losses.set("loss_mse", torch::mse_loss(linear_(batch.at("inputs")), batch.at("targets")));
    return losses;
  }
  mmhook::TensorDict forward_predict(const mmhook::TensorDict& batch) override {
    mmhook::TensorDict out;
    out.set("outputs", linear_(batch.at("inputs")));
    return out;
  }
  float weight() const { return linear_->weight.item<float>(); }
  float bias() const { return linear_->bias.item<float>(); }

 private:
  torch::nn::Linear linear_{nullptr};
};

// -------------------------------------------------------------------------------------- hook
// Deriving from HookImpl<LossCurveHook> makes the dispatcher call this hook only at the stages
// it overrides (after_train_iter, after_train_epoch): every other stage costs it nothing.
class LossCurveHook : public mmhook::HookImpl<LossCurveHook> {
 public:
  explicit LossCurveHook(int64_t print_every) : print_every_(print_every) {}

  void after_train_iter(mmhook::Runner& runner, int64_t batch_idx, const mmhook::TensorDict& batch,
                        const mmhook::TensorDict& outputs) override {
    // outputs are the parsed log variables: "loss" (the total) first, detached.
    sum_ += outputs.at("loss").item<double>();
    ++count_;
  }

  void after_train_epoch(mmhook::Runner& runner) override {
    epoch_losses_.push_back(sum_ / static_cast<double>(count_));
    sum_ = 0.0;
    count_ = 0;
    // runner.epoch() counts completed epochs; it is incremented after this stage (MMEngine).
    if ((runner.epoch() + 1) % print_every_ == 0)
      std::printf("LossCurveHook: epoch %lld mean loss %.6f\n",
                  static_cast<long long>(runner.epoch()) + 1, epoch_losses_.back());
  }

  const std::vector<double>& epoch_losses() const { return epoch_losses_; }

 private:
  int64_t print_every_;
  double sum_ = 0.0;
  int64_t count_ = 0;
  std::vector<double> epoch_losses_;
};

// Registers the three types, so a config can name them by "type".
void register_types() {
  mmhook::dataset_registry().add("LineDataset", [](const mmhook::ConfigNode& cfg) {
    return std::make_shared<LineDataset>(cfg.get<int64_t>("num_samples", 64));
  });
  mmhook::model_registry().add("LinearRegressor", [](const mmhook::ConfigNode& cfg) {
    return std::make_shared<LinearRegressor>(cfg.get<int64_t>("in_features", 1));
  });
  mmhook::hook_registry().add("LossCurveHook", [](const mmhook::ConfigNode& cfg) {
    return std::make_shared<LossCurveHook>(cfg.get<int64_t>("print_every", 1));
  });
}

// Builds the runner from the config, trains, and checks what LossCurveHook saw.
int run(const std::string& work_dir) {
  register_types();

  // MMEngine's config keys, as JSON. The custom types are named exactly like built-in ones.
  nlohmann::json cfg = nlohmann::json::parse(R"({
    "model": {"type": "LinearRegressor", "in_features": 1},
    "train_dataloader": {
      "batch_size": 8, "num_workers": 0,
      "sampler": {"type": "DefaultSampler", "shuffle": true},
      "dataset": {"type": "LineDataset", "num_samples": 64}
    },
    "train_cfg": {"by_epoch": true, "max_epochs": 12},
    "optim_wrapper": {"type": "OptimWrapper", "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.5}},
    "param_scheduler": [{"type": "CosineAnnealingLR", "T_max": 12, "eta_min": 0.001, "by_epoch": true}],
    "default_hooks": {"logger": {"type": "LoggerHook", "interval": 8}, "checkpoint": null},
    "custom_hooks": [{"type": "LossCurveHook", "print_every": 4, "priority": "BELOW_NORMAL"}],
    "randomness": {"seed": 0},
    "log_level": "WARNING"
  })");
  cfg["work_dir"] = work_dir;

  mmhook::Runner runner(cfg);
  runner.train();

  const auto* curve = dynamic_cast<const LossCurveHook*>(runner.find_hook("LossCurveHook"));
  auto& model = dynamic_cast<LinearRegressor&>(runner.model());
  if (curve == nullptr || curve->epoch_losses().size() != 12) {
    std::fprintf(stderr, "custom_hook_model: LossCurveHook did not see 12 epochs\n");
    return 1;
  }
  const double first = curve->epoch_losses().front();
  const double last = curve->epoch_losses().back();
  std::printf("custom_hook_model: %lld iterations, loss %.6f -> %.6f, y = %.3fx %+.3f\n",
              static_cast<long long>(runner.iter()), first, last, model.weight(), model.bias());
  if (!(last * 10.0 < first)) {
    std::fprintf(stderr, "custom_hook_model: the loss did not fall tenfold\n");
    return 1;
  }
  std::printf("custom_hook_model: OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc > 1 ? argv[1] : "work_dirs/custom_hook_model");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_hook_model: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "custom_hook_model: unknown exception\n");
  }
  return 1;
}
