// TorchScriptModel with MMEngine's BaseModel contract: a scripted `forward(batch, mode)` that
// returns a dict trains as-is (mode "loss" summed by parse_losses, mode "predict" handed to the
// metrics), and every way of breaking that contract fails with one line naming file and rule.
// Fixtures: scripts/make_scripted_model.py (scripted_dict_*.pt).

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/types.h>

#include <cmath>
#include <string>
#include <vector>

#include "mmhook/core/error.h"
#include "mmhook/data/dataset.h"
#include "mmhook/evaluator/metric.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/model/torchscript_model.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

std::string fixture(const std::string& name) {
  return std::string(MMHOOK_SOURCE_DIR) + "/tests/fixtures/" + name;
}

const std::string kRegression = fixture("scripted_dict_regression.pt");

// The regression fixture's fixed weights (scripts/make_scripted_model.py, DictRegression).
constexpr double kWeight[4] = {0.5, -0.25, 0.125, 1.0};
constexpr double kBias = 0.1;
constexpr int64_t kSamples = 4;

// Sample i of 4: inputs [i/4, 1 - i/4, 0.5, i % 2], labels [2i/4 - 0.5]; "labels", not the
// classifiers' "targets": the dict contract passes whatever keys the dataset provides.
std::vector<double> sample_inputs(int64_t i) {
  const double v = static_cast<double>(i) / kSamples;
  return {v, 1.0 - v, 0.5, static_cast<double>(i % 2)};
}
double sample_label(int64_t i) { return 2.0 * static_cast<double>(i) / kSamples - 0.5; }

class Regression4 : public Dataset {
 public:
  int64_t size() const override { return kSamples; }
  TensorDict get(int64_t index, uint64_t) const override {
    TensorDict d;
    d.set("inputs", torch::tensor(sample_inputs(index), torch::kFloat));
    d.set("labels", torch::tensor({sample_label(index)}, torch::kFloat));
    return d;
  }
};

TensorDict whole_batch() {
  std::vector<double> x, y;
  for (int64_t i = 0; i < kSamples; ++i) {
    for (double v : sample_inputs(i)) x.push_back(v);
    y.push_back(sample_label(i));
  }
  TensorDict b;
  b.set("inputs", torch::tensor(x, torch::kFloat).view({kSamples, 4}));
  b.set("labels", torch::tensor(y, torch::kFloat).view({kSamples, 1}));
  return b;
}

// err_i = w.x_i + b - y_i of the whole dataset.
std::vector<double> errors(const double (&w)[4], double b) {
  std::vector<double> e;
  for (int64_t i = 0; i < kSamples; ++i) {
    const std::vector<double> x = sample_inputs(i);
    double pred = b;
    for (int k = 0; k < 4; ++k) pred += w[k] * x[k];
    e.push_back(pred - sample_label(i));
  }
  return e;
}

double mean_square(const std::vector<double>& e) {
  double s = 0;
  for (double v : e) s += v * v;
  return s / static_cast<double>(e.size());
}

double mean_abs(const std::vector<double>& e) {
  double s = 0;
  for (double v : e) s += std::abs(v);
  return s / static_cast<double>(e.size());
}

// Mean squared error of the "pred" outputs of predict mode against the batch's "labels"; any
// other output key is an error, so a metric fed by another mode fails.
class PredMSE : public BaseMetric {
 public:
  void process(const TensorDict& data_batch, const TensorDict& outputs) override {
    MMHOOK_CHECK(outputs.keys() == std::vector<std::string>{"pred"}, "PredMSE: outputs ",
                 outputs.keys().size(), " keys, expected only 'pred'");
    const at::Tensor err = outputs.at("pred").to(at::kDouble) - data_batch.at("labels");
    sum_ += (err * err).sum().item<double>();
    count_ += err.numel();
  }
  Metrics compute_metrics() override {
    Metrics m;
    m.set("mse", sum_ / static_cast<double>(count_));
    m.set("samples", static_cast<double>(count_));
    return m;
  }
  void reset() override {
    sum_ = 0;
    count_ = 0;
  }

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

// One epoch of one batch (the whole dataset), SGD lr 0.1 without momentum, validation after it.
nlohmann::json dict_config(const std::string& work_dir, const std::string& model_path) {
  static bool registered = [] {
    dataset_registry().add("Regression4", [](const ConfigNode&) -> std::shared_ptr<Dataset> {
      return std::make_shared<Regression4>();
    });
    metric_registry().add("PredMSE", [](const ConfigNode&) -> std::shared_ptr<BaseMetric> {
      return std::make_shared<PredMSE>();
    });
    return true;
  }();
  (void)registered;
  nlohmann::json cfg = testing::epoch_config(work_dir);
  cfg["model"] = {{"type", "TorchScriptModel"}, {"path", model_path}};
  const nlohmann::json loader = {{"batch_size", kSamples},
                                 {"num_workers", 0},
                                 {"sampler", {{"type", "DefaultSampler"}, {"shuffle", false}}},
                                 {"dataset", {{"type", "Regression4"}}}};
  cfg["train_dataloader"] = loader;
  cfg["val_dataloader"] = loader;
  cfg["val_evaluator"] = {{"type", "PredMSE"}};
  cfg.erase("test_dataloader");
  cfg.erase("test_cfg");
  cfg.erase("test_evaluator");
  cfg["train_cfg"] = {{"by_epoch", true}, {"max_epochs", 1}, {"val_interval", 1}};
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.1}};
  return cfg;
}

// Trains one epoch of `fixture_name` and returns the error's message ("" when none).
std::string train_error(const std::string& fixture_name, const std::string& work_dir) {
  Runner runner(dict_config(work_dir, fixture(fixture_name)));
  try {
    runner.train();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The message of the Error loading `path` raises ("" when none), with its code.
std::string load_error(const std::string& path, Code* code = nullptr) {
  try {
    TorchScriptModel model({path});
  } catch (const Error& e) {
    if (code != nullptr) *code = e.code();
    return e.what();
  }
  return "";
}

TEST(TorchScriptDictModelTest, ModesReturnTheScriptedDicts) {
  TorchScriptModel model({kRegression});
  EXPECT_EQ(model.contract(), TorchScriptContract::kDict);
  EXPECT_EQ(TorchScriptModel({fixture("scripted_cnn.pt")}).contract(),
            TorchScriptContract::kLogits);
  BaseModel& base = model;
  const std::vector<double> e = errors(kWeight, kBias);  // 0.4125, 1.1, -0.2125, 0.475

  const TensorDict losses = base.forward_loss(whole_batch());
  ASSERT_EQ(losses.keys(), (std::vector<std::string>{"loss_mse", "loss_l1_scaled", "max_abs_err"}));
  EXPECT_NEAR(losses.at("loss_mse").item<double>(), mean_square(e), 1e-6);           // 0.412734375
  EXPECT_NEAR(losses.at("loss_l1_scaled").item<double>(), 0.5 * mean_abs(e), 1e-6);  // 0.275
  EXPECT_NEAR(losses.at("max_abs_err").item<double>(), 1.1, 1e-6);
  EXPECT_TRUE(losses.at("loss_mse").requires_grad());

  const TensorDict pred = base.forward_predict(whole_batch());
  ASSERT_EQ(pred.keys(), std::vector<std::string>{"pred"});
  ASSERT_EQ(pred.at("pred").sizes(), (std::vector<int64_t>{kSamples, 1}));
  for (int64_t i = 0; i < kSamples; ++i)
    EXPECT_NEAR(pred.at("pred")[i][0].item<double>(), e[i] + sample_label(i), 1e-6) << i;

  const TensorDict raw = model.forward_tensor(whole_batch());
  ASSERT_EQ(raw.keys(), std::vector<std::string>{"raw"});
  EXPECT_TRUE(torch::allclose(raw.at("raw"), pred.at("pred")));

  // forward(inputs) is the other contract's entry point.
  try {
    (void)model.forward(torch::zeros({2, 4}));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("forward(inputs) is the logits contract"),
              std::string::npos)
        << e.what();
  }
}

// Plain SGD on loss = loss_mse + loss_l1_scaled (max_abs_err is logged, not summed):
// dL/dw = sum_i (2 e_i + 0.5 sign(e_i)) x_i / B, dL/db = sum_i (2 e_i + 0.5 sign(e_i)) / B.
TEST(TorchScriptDictModelTest, OneStepIsPlainSgdOnTheSumOfTheLossKeysAndEachKeyIsLogged) {
  struct OutputsRecorder : HookImpl<OutputsRecorder> {
    std::vector<TensorDict> outputs;
    void after_train_iter(Runner&, int64_t, const TensorDict&, const TensorDict& out) override {
      outputs.push_back(out);
    }
  };
  TempDir dir;
  Runner runner(dict_config(dir.path(), kRegression));
  auto rec = std::make_shared<OutputsRecorder>();
  runner.register_hook(rec);
  runner.train();

  const std::vector<double> e = errors(kWeight, kBias);
  double grad_w[4] = {0, 0, 0, 0}, grad_b = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    const double d = (2.0 * e[i] + 0.5 * (e[i] > 0 ? 1.0 : -1.0)) / kSamples;
    const std::vector<double> x = sample_inputs(i);
    for (int k = 0; k < 4; ++k) grad_w[k] += d * x[k];
    grad_b += d;
  }
  auto params = runner.model().named_parameters();
  ASSERT_EQ(params.keys(), (std::vector<std::string>{"linear.weight", "linear.bias"}));
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(params["linear.weight"][0][k].item<double>(), kWeight[k] - 0.1 * grad_w[k], 1e-6)
        << k;
  EXPECT_NEAR(params["linear.bias"][0].item<double>(), kBias - 0.1 * grad_b, 1e-6);
  // PyTorch 1.13's autograd on the same fixture gives linear.bias -0.01375 (0.1 - 0.1 * 1.1375).
  EXPECT_NEAR(params["linear.bias"][0].item<double>(), -0.01375, 1e-6);

  // parse_losses: "loss" first, then every entry the module returned, each logged.
  ASSERT_EQ(rec->outputs.size(), 1u);
  const TensorDict& out = rec->outputs[0];
  EXPECT_EQ(out.keys(),
            (std::vector<std::string>{"loss", "loss_mse", "loss_l1_scaled", "max_abs_err"}));
  EXPECT_NEAR(out.at("loss").item<double>(), mean_square(e) + 0.5 * mean_abs(e), 1e-6);
  EXPECT_NEAR(out.at("loss").item<double>(), 0.687734375, 1e-6);
  MessageHub& hub = runner.message_hub();
  EXPECT_NEAR(hub.get_scalar("train/loss").current(), 0.687734375, 1e-6);
  EXPECT_NEAR(hub.get_scalar("train/loss_mse").current(), 0.412734375, 1e-6);
  EXPECT_NEAR(hub.get_scalar("train/loss_l1_scaled").current(), 0.275, 1e-6);
  EXPECT_NEAR(hub.get_scalar("train/max_abs_err").current(), 1.1, 1e-6);
}

// Validation after the step: the metric's process() got predict mode's {"pred"} for every sample,
// computed with the updated weights.
TEST(TorchScriptDictModelTest, PredictOutputsReachTheMetric) {
  TempDir dir;
  Runner runner(dict_config(dir.path(), kRegression));
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec);
  runner.train();
  auto params = runner.model().named_parameters();
  double w[4];
  for (int k = 0; k < 4; ++k) w[k] = params["linear.weight"][0][k].item<double>();
  const double b = params["linear.bias"][0].item<double>();
  ASSERT_TRUE(rec->last_metrics.contains("mse"));
  EXPECT_EQ(rec->last_metrics.at("samples"), 4.0);
  EXPECT_NEAR(rec->last_metrics.at("mse"), mean_square(errors(w, b)), 1e-6);
  EXPECT_NEAR(rec->last_metrics.at("mse"), 0.2138368655, 1e-6);  // PyTorch 1.13, same fixture
  // A val pass alone (no training) sees the fixture's own weights.
  TempDir dir2;
  Runner fresh(dict_config(dir2.path(), kRegression));
  const Metrics m = fresh.val();
  EXPECT_NEAR(m.at("mse"), 0.412734375, 1e-6);
}

TEST(TorchScriptDictModelTest, AForwardThatFitsNeitherContractIsRefusedWhenLoaded) {
  Code code = Code::kOk;
  const std::string path = fixture("scripted_dict_bad_args.pt");
  const std::string msg = load_error(path, &code);
  EXPECT_NE(msg.find("TorchScriptModel.path '" + path +
                     "': forward(x: int) -> Tensor fits "
                     "neither model contract: forward(self, inputs: Tensor) -> Tensor"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("forward(self, batch: Dict[str, Tensor], mode: str) -> Dict[str, Tensor]"),
            std::string::npos)
      << msg;
  EXPECT_EQ(code, Code::kInvalidArgument);
  // Through a config, the same message.
  TempDir dir;
  try {
    Runner runner(dict_config(dir.path(), path));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fits neither model contract"), std::string::npos)
        << e.what();
  }
}

TEST(TorchScriptDictModelTest, ADictForwardNotReturningADictIsRefusedWhenLoaded) {
  const std::string path = fixture("scripted_dict_bad_return.pt");
  const std::string msg = load_error(path);
  EXPECT_NE(msg.find("TorchScriptModel.path '" + path +
                     "': forward(batch: Dict[str, Tensor], mode: str) -> Tensor takes MMEngine's "
                     "(batch, mode) but must return Dict[str, Tensor]"),
            std::string::npos)
      << msg;
}

// Schemas written here (torch::jit::Module::define) and saved to a file: later parameters with
// defaults are accepted, anything else is named.
TEST(TorchScriptDictModelTest, SchemaRules) {
  TempDir dir;
  int n = 0;
  auto save = [&](const std::string& source) {
    torch::jit::Module m("Probe");
    m.register_parameter("w", torch::ones({1}), false);
    m.define(source);
    std::string path = dir / ("probe" + std::to_string(n++) + ".pt");
    m.save(path);
    return path;
  };
  const std::string with_defaults = save(R"(
def forward(self, batch: Dict[str, Tensor], mode: str = "tensor", scale: float = 1.0) -> Dict[str, Tensor]:
    return {"loss": (batch["inputs"] * self.w * scale).sum()}
)");
  EXPECT_EQ(TorchScriptModel({with_defaults}).contract(), TorchScriptContract::kDict);
  const std::string logits_with_default = save(R"(
def forward(self, x: Tensor, scale: float = 1.0) -> Tensor:
    return x * self.w * scale
)");
  EXPECT_EQ(TorchScriptModel({logits_with_default}).contract(), TorchScriptContract::kLogits);

  const std::string no_mode = save(R"(
def forward(self, batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
    return batch
)");
  EXPECT_NE(load_error(no_mode).find("forward(batch: Dict[str, Tensor]) -> Dict[str, Tensor] "
                                     "fits neither model contract"),
            std::string::npos)
      << load_error(no_mode);
  const std::string int_keys = save(R"(
def forward(self, batch: Dict[int, Tensor], mode: str) -> Dict[str, Tensor]:
    return {"loss": batch[0]}
)");
  EXPECT_NE(load_error(int_keys).find("forward(batch: Dict[int, Tensor], mode: str) -> "
                                      "Dict[str, Tensor] fits neither model contract"),
            std::string::npos)
      << load_error(int_keys);
  const std::string list_values = save(R"(
def forward(self, batch: Dict[str, Tensor], mode: str) -> Dict[str, List[Tensor]]:
    return {"loss": [batch["inputs"]]}
)");
  EXPECT_NE(load_error(list_values).find("must return Dict[str, Tensor]"), std::string::npos)
      << load_error(list_values);
  const std::string extra_required = save(R"(
def forward(self, x: Tensor, y: Tensor) -> Tensor:
    return x + y
)");
  EXPECT_NE(load_error(extra_required).find("forward(x: Tensor, y: Tensor) -> Tensor fits neither"),
            std::string::npos)
      << load_error(extra_required);
  const std::string logits_int = save(R"(
def forward(self, x: Tensor) -> int:
    return 1
)");
  EXPECT_NE(load_error(logits_int)
                .find("forward(x: Tensor) -> int takes inputs but must return a "
                      "Tensor of logits"),
            std::string::npos)
      << load_error(logits_int);
}

TEST(TorchScriptDictModelTest, LossModeWithoutALossKeyIsNamed) {
  TempDir dir;
  const std::string msg = train_error("scripted_dict_no_loss.pt", dir.path());
  EXPECT_NE(msg.find("TorchScriptModel '" + fixture("scripted_dict_no_loss.pt") +
                     "' mode 'loss': forward returned no key containing 'loss' (keys: mse)"),
            std::string::npos)
      << msg;
}

TEST(TorchScriptDictModelTest, ANonScalarLossIsNamedWithItsShape) {
  TempDir dir;
  const std::string msg = train_error("scripted_dict_nonscalar_loss.pt", dir.path());
  EXPECT_NE(msg.find("TorchScriptModel '" + fixture("scripted_dict_nonscalar_loss.pt") +
                     "' mode 'loss': loss 'loss_per_sample' must be a scalar (one element), got "
                     "shape [4, 1]"),
            std::string::npos)
      << msg;
}

TEST(TorchScriptDictModelTest, AnIntegerLossIsNamed) {
  TempDir dir;
  const std::string msg = train_error("scripted_dict_int_loss.pt", dir.path());
  EXPECT_NE(msg.find("TorchScriptModel '" + fixture("scripted_dict_int_loss.pt") +
                     "' mode 'loss': loss 'loss_count' must be a floating-point tensor, got Long"),
            std::string::npos)
      << msg;
}

// A scripted forward that raises (here: the batch lacks "labels") names the mode and the batch.
TEST(TorchScriptDictModelTest, AForwardThatRaisesNamesTheModeAndTheBatch) {
  TorchScriptModel model({kRegression});
  TensorDict batch;
  batch.set("inputs", torch::zeros({2, 4}));
  try {
    (void)model.forward_loss(batch);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("TorchScriptModel '" + kRegression +
                       "' mode 'loss': forward failed on batch {inputs: [2, 4] Float}: "),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(e.code(), Code::kTorch);
  }
  // Predict mode needs only "inputs".
  EXPECT_EQ(model.forward_predict(batch).at("pred").sizes(), (std::vector<int64_t>{2, 1}));
}

}  // namespace
}  // namespace mmhook
