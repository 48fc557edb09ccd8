#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "mmhook/model/base_model.h"
#include "mmhook/model/cnn_classifier.h"
#include "mmhook/model/mlp_classifier.h"
#include "mmhook/model/toy_model.h"

namespace mmhook {
namespace {

std::vector<std::string> param_names(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& kv : m.named_parameters()) out.push_back(kv.key());
  return out;
}

TensorDict toy_batch(int64_t first, int64_t n, int64_t total = 12) {
  std::vector<float> x;
  for (int64_t i = first; i < first + n; ++i) {
    const double v = static_cast<double>(i) / static_cast<double>(total);
    x.push_back(static_cast<float>(v));
    x.push_back(static_cast<float>(1.0 - v));
  }
  TensorDict b;
  b.set("inputs", torch::tensor(x).view({n, 2}));
  b.set("targets", torch::ones({n, 1}));
  return b;
}

TEST(ToyModelTest, FixedWeightsAndNames) {
  torch::manual_seed(123);
  ToyModel m;
  EXPECT_EQ(param_names(m), (std::vector<std::string>{"linear1.weight", "linear1.bias",
                                                      "linear2.weight", "linear2.bias"}));
  auto p = m.named_parameters();
  EXPECT_TRUE(torch::equal(p["linear1.weight"], torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}})));
  EXPECT_TRUE(torch::equal(p["linear1.bias"], torch::tensor({0.0f, 0.1f})));
  EXPECT_TRUE(torch::equal(p["linear2.weight"], torch::tensor({{0.5f, -0.5f}})));
  EXPECT_TRUE(torch::equal(p["linear2.bias"], torch::tensor({0.2f})));
}

// Reference (PyTorch 1.13): with these weights every toy sample maps to out = 0.05, so a batch
// of 3 has loss 3 * (1 - 0.05) = 2.85.
TEST(ToyModelTest, ForwardNumbers) {
  ToyModel m;
  BaseModel& base = m;
  TensorDict pred = base.forward_predict(toy_batch(0, 3));
  ASSERT_TRUE(pred.contains("outputs"));
  EXPECT_EQ(pred.at("outputs").sizes(), (std::vector<int64_t>{3, 1}));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(pred.at("outputs")[i][0].item<float>(), 0.05f, 1e-6);
  TensorDict losses = base.forward_loss(toy_batch(3, 3));
  ASSERT_EQ(losses.keys(), (std::vector<std::string>{"loss"}));
  EXPECT_NEAR(losses.at("loss").item<float>(), 2.85f, 1e-6);
  // d loss / d linear2.bias = -batch size.
  losses.at("loss").backward();
  EXPECT_NEAR(m.named_parameters()["linear2.bias"].grad().item<float>(), -3.0f, 1e-6);
}

TEST(ToyModelTest, InitWeightsRestoresTheFixedValues) {
  ToyModel m;
  {
    torch::NoGradGuard g;
    for (auto& p : m.parameters()) p.add_(1.0);
  }
  m.init_weights();
  EXPECT_TRUE(torch::equal(m.named_parameters()["linear2.weight"], torch::tensor({{0.5f, -0.5f}})));
}

TEST(MLPClassifierTest, NamesShapesAndLoss) {
  MLPClassifier m;
  EXPECT_EQ(param_names(m),
            (std::vector<std::string>{"linear1.weight", "linear1.bias", "linear2.weight",
                                      "linear2.bias", "linear3.weight", "linear3.bias"}));
  auto p = m.named_parameters();
  EXPECT_EQ(p["linear1.weight"].sizes(), (std::vector<int64_t>{256, 784}));
  EXPECT_EQ(p["linear3.weight"].sizes(), (std::vector<int64_t>{10, 128}));
  TensorDict b;
  b.set("inputs", torch::rand({5, 1, 28, 28}));
  b.set("targets", torch::tensor({0, 1, 2, 3, 9}, torch::kInt64));
  at::Tensor logits = m.forward_predict(b).at("outputs");
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{5, 10}));
  const double expect =
      -torch::log_softmax(logits, 1).gather(1, b.at("targets").view({-1, 1})).mean().item<double>();
  EXPECT_NEAR(m.forward_loss(b).at("loss").item<double>(), expect, 1e-5);

  MLPClassifierOptions o;
  o.hidden_dims = {16};
  o.batch_norm = true;
  o.dropout = 0.5;
  MLPClassifier bn(o);
  EXPECT_EQ(param_names(bn),
            (std::vector<std::string>{"linear1.weight", "linear1.bias", "bn1.weight", "bn1.bias",
                                      "linear2.weight", "linear2.bias"}));
  std::vector<std::string> buffers;
  for (const auto& kv : bn.named_buffers()) buffers.push_back(kv.key());
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn1.running_mean", "bn1.running_var",
                                               "bn1.num_batches_tracked"}));
  bn.eval();
  at::Tensor a = bn.forward(b.at("inputs"));
  EXPECT_TRUE(torch::equal(a, bn.forward(b.at("inputs"))));  // no dropout in eval mode
}

TEST(CNNClassifierTest, AnchorArchitecture) {
  CNNClassifier m;
  EXPECT_EQ(param_names(m),
            (std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                      "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  auto p = m.named_parameters();
  EXPECT_EQ(p["conv1.weight"].sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(p["conv2.weight"].sizes(), (std::vector<int64_t>{64, 32, 3, 3}));
  EXPECT_EQ(p["fc1.weight"].sizes(), (std::vector<int64_t>{128, 1600}));
  EXPECT_EQ(p["fc2.weight"].sizes(), (std::vector<int64_t>{10, 128}));
  TensorDict b;
  b.set("inputs", torch::rand({2, 1, 28, 28}));
  b.set("targets", torch::tensor({4, 7}, torch::kInt64));
  EXPECT_EQ(m.forward_predict(b).at("outputs").sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_TRUE(std::isfinite(m.forward_loss(b).at("loss").item<double>()));

  CNNClassifierOptions o;
  o.batch_norm = true;
  CNNClassifier bn(o);
  EXPECT_EQ(param_names(bn),
            (std::vector<std::string>{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                      "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                                      "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  o.channels = {8, 8, 8, 8};
  EXPECT_THROW(CNNClassifier{o}, Error);  // 28 -> 13 -> 5 -> 1 -> nothing
}

TEST(ModelRegistryTest, BuildsBuiltins) {
  auto& r = model_registry();
  auto toy = r.build(ConfigNode({{"type", "ToyModel"}}, "model"));
  EXPECT_NEAR(toy->forward_loss(toy_batch(0, 3)).at("loss").item<float>(), 2.85f, 1e-6);
  auto mlp = r.build(
      ConfigNode({{"type", "MLPClassifier"}, {"hidden_dims", {32}}, {"num_classes", 3}}, "model"));
  EXPECT_EQ(mlp->named_parameters()["linear2.weight"].sizes(), (std::vector<int64_t>{3, 32}));
  auto cnn = r.build(ConfigNode(
      {{"type", "CNNClassifier"}, {"channels", {4}}, {"hidden", 8}, {"batch_norm", true}},
      "model"));
  EXPECT_EQ(cnn->named_parameters()["fc1.weight"].sizes(), (std::vector<int64_t>{8, 4 * 13 * 13}));
  try {
    r.build(ConfigNode({{"type", "MLPClassifier"}, {"hidden_dim", {32}}}, "model"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.hidden_dim"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
