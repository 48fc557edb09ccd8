// build_optim_wrapper (docs/design.md §B5.4, §B9 check 77's paramwise example).
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <sstream>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/optim/optimizer_builder.h"

namespace mmhook {
namespace {

// MMEngine's test model: conv1 (weight, bias), bn (weight, bias), conv2 (weight, bias).
struct ExampleModelImpl : torch::nn::Module {
  ExampleModelImpl() {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 2, 1)));
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ExampleModel);

ConfigNode node(const char* text) {
  return ConfigNode(nlohmann::json::parse(text), "optim_wrapper");
}

TEST(OptimizerBuilderTest, PlainSgd) {
  ExampleModel m;
  auto w = build_optim_wrapper(
      node(R"({"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.8}})"), *m);
  EXPECT_EQ(w->optimizer_type(), "SGD");
  EXPECT_EQ(w->optimizer().param_groups().size(), 1u);
  EXPECT_EQ(w->optimizer().param_groups()[0].params().size(), 6u);
  EXPECT_EQ(w->get_lr().at("lr"), std::vector<double>{0.1});
  EXPECT_EQ(w->get_momentum().at("momentum"), std::vector<double>{0.8});
  EXPECT_EQ(w->accumulative_counts(), 1);
}

TEST(OptimizerBuilderTest, ParamwiseCustomKeysExample) {
  ExampleModel m;
  auto w = build_optim_wrapper(node(R"({"optimizer": {"type": "SGD", "lr": 0.1},
      "paramwise_cfg": {"custom_keys": {"conv1.weight": {"lr_mult": 0.1}}}})"),
                               *m);
  auto lr = w->get_lr();
  EXPECT_EQ(lr.keys(), (std::vector<std::string>{"base_lr", "lr"}));
  EXPECT_EQ(lr.at("base_lr"), std::vector<double>{0.1});
  const auto lrs = lr.at("lr");
  ASSERT_EQ(lrs.size(), 6u);
  EXPECT_DOUBLE_EQ(lrs[0], 0.1 * 0.1);
  for (size_t i = 1; i < 6; ++i) EXPECT_DOUBLE_EQ(lrs[i], 0.1);
  EXPECT_EQ(w->get_group_value(0, "lr_mult"), 0.1);
  EXPECT_FALSE(w->has_group_value(1, "lr_mult"));
}

TEST(OptimizerBuilderTest, ParamwiseMultipliers) {
  ExampleModel m;
  auto w = build_optim_wrapper(
      node(R"({"optimizer": {"type": "SGD", "lr": 0.01, "weight_decay": 0.0001, "momentum": 0.9},
      "paramwise_cfg": {"bias_lr_mult": 2, "bias_decay_mult": 0.5, "norm_decay_mult": 0,
                        "custom_keys": {"conv2": {"lr_mult": 3, "decay_mult": 4}, "conv": {"lr_mult": 5}}}})"),
      *m);
  // Order: conv1.weight, conv1.bias, bn.weight, bn.bias, conv2.weight, conv2.bias.
  // Norm biases keep the base lr (bias_lr_mult skips norm layers) and take norm_decay_mult.
  // "conv2" (longer) wins over "conv" for conv2.*; "conv" matches conv1.*.
  std::vector<double> lr, wd;
  for (size_t g = 0; g < 6; ++g) {
    lr.push_back(w->get_group_value(g, "lr"));
    wd.push_back(w->get_group_value(g, "weight_decay"));
  }
  const std::vector<double> want_lr{0.05, 0.05, 0.01, 0.01, 0.03, 0.03};
  const std::vector<double> want_wd{1e-4, 1e-4, 0.0, 0.0, 4e-4, 4e-4};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_DOUBLE_EQ(lr[i], want_lr[i]) << i;
    EXPECT_DOUBLE_EQ(wd[i], want_wd[i]) << i;
  }
  EXPECT_EQ(w->get_group_value(6, "lr"), 0.01);  // base group
}

TEST(OptimizerBuilderTest, DecayMultWithoutWeightDecayIsError) {
  ExampleModel m;
  EXPECT_THROW(build_optim_wrapper(node(R"({"optimizer": {"type": "SGD", "lr": 0.1},
      "paramwise_cfg": {"norm_decay_mult": 0}})"),
                                   *m),
               Error);
}

TEST(OptimizerBuilderTest, UnknownKeysNameTheirPath) {
  ExampleModel m;
  try {
    build_optim_wrapper(node(R"({"optimizer": {"type": "SGD", "lr": 0.1, "momentun": 0.9}})"), *m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_NE(std::string(e.what()).find("optim_wrapper.optimizer.momentun"), std::string::npos)
        << e.what();
  }
  try {
    build_optim_wrapper(
        node(
            R"({"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {"max_norm": 1, "foo": 2}})"),
        *m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optim_wrapper.clip_grad.foo"), std::string::npos)
        << e.what();
  }
  try {
    build_optim_wrapper(
        node(R"({"optimizer": {"type": "SGD", "lr": 0.1}, "paramwise_cfg": {"bias_lr": 2}})"), *m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optim_wrapper.paramwise_cfg.bias_lr"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(build_optim_wrapper(node(R"({"optimizer": {"type": "SGDX", "lr": 0.1}})"), *m),
               Error);
  EXPECT_THROW(
      build_optim_wrapper(node(R"({"type": "Foo", "optimizer": {"type": "SGD", "lr": 0.1}})"), *m),
      Error);
  EXPECT_THROW(build_optim_wrapper(
                   node(R"({"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {}})"), *m),
               Error);
  EXPECT_THROW(build_optim_wrapper(
                   node(R"({"optimizer": {"type": "SGD", "lr": 0.1}, "loss_scale": 512})"), *m),
               Error);
}

TEST(OptimizerBuilderTest, WrapperOptions) {
  ExampleModel m;
  auto w = build_optim_wrapper(
      node(R"({"type": "AmpOptimWrapper", "loss_scale": 512, "dtype": "bfloat16",
      "accumulative_counts": 2, "clip_grad": {"type": "value", "clip_value": 0.5},
      "optimizer": {"type": "AdamW", "lr": 0.001, "betas": [0.8, 0.99]}})"),
      *m);
  auto* amp = dynamic_cast<AmpOptimWrapper*>(w.get());
  ASSERT_NE(amp, nullptr);
  EXPECT_EQ(amp->loss_scaler().get_scale(), 512.0);
  EXPECT_EQ(amp->cast_dtype(), at::kBFloat16);
  EXPECT_EQ(w->accumulative_counts(), 2);
  ASSERT_TRUE(w->clip_grad().has_value());
  EXPECT_EQ(w->clip_grad()->type, "value");
  EXPECT_EQ(w->clip_grad()->clip_value, 0.5);
  EXPECT_EQ(w->get_momentum().at("momentum"), std::vector<double>{0.8});
  EXPECT_DOUBLE_EQ(w->get_group_value(0, "weight_decay"), 1e-2);
}

TEST(OptimizerBuilderTest, AllOptimizerTypes) {
  for (const char* t : {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"}) {
    ExampleModel m;
    nlohmann::json j = {{"optimizer", {{"type", t}, {"lr", 0.5}}}};
    auto w = build_optim_wrapper(ConfigNode(j, "optim_wrapper"), *m);
    EXPECT_EQ(w->optimizer_type(), t);
    EXPECT_EQ(w->get_lr().at("lr"), std::vector<double>{0.5});
  }
}

// Each optimizer's table gives PyTorch's param_group keys in PyTorch's order and its defaults.
TEST(OptimizerBuilderTest, EachTypesParamGroupHasPyTorchsKeysAndDefaults) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"SGD", "lr=0.5 momentum=0 dampening=0 weight_decay=0 nesterov=0"},
      {"Adam", "lr=0.5 betas=(0.9,0.999) eps=1e-08 weight_decay=0 amsgrad=0"},
      {"AdamW", "lr=0.5 betas=(0.9,0.999) eps=1e-08 weight_decay=0.01 amsgrad=0"},
      {"RMSprop", "lr=0.5 alpha=0.99 eps=1e-08 weight_decay=0 momentum=0 centered=0"},
      {"Adagrad", "lr=0.5 lr_decay=0 weight_decay=0 initial_accumulator_value=0 eps=1e-10"}};
  for (const auto& [type, keys] : expected) {
    ExampleModel m;
    nlohmann::json j = {{"optimizer", {{"type", type}, {"lr", 0.5}}}};
    auto w = build_optim_wrapper(ConfigNode(j, "optim_wrapper"), *m);
    const auto groups = w->state_dict().toGenericDict().at("param_groups").toList();
    std::ostringstream got;
    for (const auto& e : groups.get(0).toGenericDict()) {
      const std::string key = e.key().toStringRef();
      if (key == "params") continue;
      const c10::IValue& v = e.value();
      got << (got.tellp() > 0 ? " " : "") << key << "=";
      if (v.isTuple())
        got << "(" << v.toTupleRef().elements()[0].toDouble() << ","
            << v.toTupleRef().elements()[1].toDouble() << ")";
      else if (v.isBool())
        got << v.toBool();
      else
        got << v.toDouble();
    }
    EXPECT_EQ(got.str(), keys) << type;
  }
  ExampleModel m;
  try {
    build_optim_wrapper(node(R"({"optimizer": {"type": "Adamm", "lr": 0.1}})"), *m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "optim_wrapper.optimizer.type: unknown optimizer type 'Adamm' (expected SGD, Adam, "
              "AdamW, RMSprop or Adagrad) (did you mean 'Adam'?)");
  }
}

TEST(OptimizerBuilderTest, DictOfWrappersOverChildren) {
  ExampleModel m;
  auto w = build_optim_wrapper(node(R"({"conv1": {"optimizer": {"type": "SGD", "lr": 0.01}},
                                        "conv2": {"optimizer": {"type": "Adam", "lr": 0.02}}})"),
                               *m);
  auto* d = dynamic_cast<OptimWrapperDict*>(w.get());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->keys(), (std::vector<std::string>{"conv1", "conv2"}));
  EXPECT_EQ((*d)["conv1"].optimizer().param_groups()[0].params().size(), 2u);
  EXPECT_TRUE((*d)["conv1"].optimizer().param_groups()[0].params()[0].is_same(m->conv1->weight));
  EXPECT_EQ(w->get_lr().at("conv2.lr"), std::vector<double>{0.02});
  EXPECT_THROW(
      build_optim_wrapper(node(R"({"head": {"optimizer": {"type": "SGD", "lr": 0.01}}})"), *m),
      Error);
}

}  // namespace
}  // namespace mmhook
