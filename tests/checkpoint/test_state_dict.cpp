#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "checkpoint/checkpoint_test_util.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

// docs/design.md §A8's ToyModel plus a BatchNorm, so the state dict has buffers too.
struct ToyNetImpl : torch::nn::Module {
  ToyNetImpl() {
    linear1 = register_module("linear1", torch::nn::Linear(2, 2));
    linear2 = register_module("linear2", torch::nn::Linear(2, 1));
    bn = register_module("bn", torch::nn::BatchNorm1d(2));
  }
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(ToyNet);

void set_toy_weights(ToyNet& net) {
  torch::NoGradGuard no_grad;
  net->linear1->weight.copy_(torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}}));
  net->linear1->bias.copy_(torch::tensor({0.0f, 0.1f}));
  net->linear2->weight.copy_(torch::tensor({{0.5f, -0.5f}}));
  net->linear2->bias.copy_(torch::tensor({0.2f}));
  net->bn->running_mean.copy_(torch::tensor({1.5f, -2.0f}));
  net->bn->num_batches_tracked.fill_(7);
}

std::vector<std::string> keys_of(const c10::impl::GenericDict& dict) {
  std::vector<std::string> out;
  for (const auto& e : dict) out.push_back(e.key().toStringRef());
  return out;
}

template <class Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected mmhook::Error";
  return Error(Code::kOk, "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(StateDictTest, NamesAndOrderFollowPyTorch) {
  ToyNet net;
  const auto sd = module_state_dict(*net);
  EXPECT_EQ(keys_of(sd),
            (std::vector<std::string>{"linear1.weight", "linear1.bias", "linear2.weight",
                                      "linear2.bias", "bn.weight", "bn.bias", "bn.running_mean",
                                      "bn.running_var", "bn.num_batches_tracked"}));
  EXPECT_EQ(sd.at("bn.num_batches_tracked").toTensor().scalar_type(), torch::kLong);
}

TEST(StateDictTest, OwnParametersComeBeforeChildren) {
  struct Outer : torch::nn::Module {
    Outer() {
      inner = register_module("inner", torch::nn::Linear(1, 1));
      scale = register_parameter("scale", torch::ones({1}));
      steps = register_buffer("steps", torch::zeros({1}));
    }
    torch::nn::Linear inner{nullptr};
    torch::Tensor scale, steps;
  } outer;
  EXPECT_EQ(keys_of(module_state_dict(outer)),
            (std::vector<std::string>{"scale", "steps", "inner.weight", "inner.bias"}));
}

TEST(StateDictTest, ValuesAreDetachedCpuClones) {
  ToyNet net;
  set_toy_weights(net);
  const auto sd = module_state_dict(*net);
  auto w = sd.at("linear1.weight").toTensor();
  EXPECT_FALSE(w.requires_grad());
  EXPECT_TRUE(w.is_cpu());
  EXPECT_TRUE(torch::equal(w, torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}})));
  w.fill_(9.0f);
  EXPECT_FLOAT_EQ(net->linear1->weight[0][0].item<float>(), 0.1f);
}

TEST(StateDictTest, LoadRoundTripStripsModulePrefix) {
  ToyNet source;
  set_toy_weights(source);
  auto wrapped = make_generic_dict();  // as saved from a DataParallel-wrapped model
  for (const auto& e : module_state_dict(*source))
    wrapped.insert("module." + e.key().toStringRef(), e.value());
  ToyNet target;
  const auto report = load_module_state_dict(*target, wrapped, /*strict=*/true);
  EXPECT_TRUE(report.missing_keys.empty());
  EXPECT_TRUE(report.unexpected_keys.empty());
  EXPECT_TRUE(testing::ivalue_equal(c10::IValue(module_state_dict(*target)),
                                    c10::IValue(module_state_dict(*source))));
  // Loading copies in place: the parameter objects are the same and still require grad.
  EXPECT_TRUE(target->linear1->weight.requires_grad());
  EXPECT_TRUE(target->named_parameters()["linear1.weight"].is_same(target->linear1->weight));
}

TEST(StateDictTest, CustomReviseKeysApplyInOrder) {
  ToyNet source;
  set_toy_weights(source);
  auto renamed = make_generic_dict();
  for (const auto& e : module_state_dict(*source))
    renamed.insert("backbone." + e.key().toStringRef(), e.value());
  ToyNet target;
  const auto report =
      load_module_state_dict(*target, renamed, true, {{"^backbone\\.", "x."}, {"^x\\.", ""}});
  EXPECT_TRUE(report.missing_keys.empty() && report.unexpected_keys.empty());
  EXPECT_FLOAT_EQ(target->linear2->bias.item<float>(), 0.2f);
}

TEST(StateDictTest, NonStrictReportsMissingAndUnexpected) {
  ToyNet source;
  set_toy_weights(source);
  auto sd = module_state_dict(*source);
  EXPECT_EQ(sd.erase("linear2.bias"), 1u);
  EXPECT_EQ(sd.erase("bn.running_var"), 1u);
  sd.insert("ema.linear1.weight", torch::zeros({2, 2}));
  ToyNet target;
  const auto report = load_module_state_dict(*target, sd);
  EXPECT_EQ(report.missing_keys, (std::vector<std::string>{"linear2.bias", "bn.running_var"}));
  EXPECT_EQ(report.unexpected_keys, std::vector<std::string>{"ema.linear1.weight"});
  EXPECT_FLOAT_EQ(target->linear1->weight[1][1].item<float>(), 0.4f);
  EXPECT_EQ(target->bn->num_batches_tracked.item<int64_t>(), 7);
}

TEST(StateDictTest, StrictListsMismatchesAndCopiesNothing) {
  ToyNet source;
  set_toy_weights(source);
  auto sd = module_state_dict(*source);
  EXPECT_EQ(sd.erase("linear2.bias"), 1u);
  sd.insert("extra.weight", torch::zeros({1}));
  ToyNet target;
  const auto before = target->linear1->weight.clone();
  const auto e = error_of([&] { load_module_state_dict(*target, sd, /*strict=*/true); });
  EXPECT_EQ(e.code(), Code::kCheckpoint);
  EXPECT_TRUE(contains(e.what(), "missing key(s): \"linear2.bias\"")) << e.what();
  EXPECT_TRUE(contains(e.what(), "unexpected key(s): \"extra.weight\"")) << e.what();
  EXPECT_TRUE(torch::equal(target->linear1->weight, before));
}

TEST(StateDictTest, ShapeMismatchNamesKeyAndBothShapes) {
  ToyNet target;
  auto sd = module_state_dict(*target);
  sd.insert_or_assign("linear1.weight", torch::zeros({2, 3}));
  const auto e = error_of([&] { load_module_state_dict(*target, sd); });
  EXPECT_EQ(e.code(), Code::kCheckpoint);
  EXPECT_TRUE(contains(e.what(), "linear1.weight")) << e.what();
  EXPECT_TRUE(contains(e.what(), "[2, 3]")) << e.what();
  EXPECT_TRUE(contains(e.what(), "[2, 2]")) << e.what();
}

TEST(StateDictTest, NonTensorValueIsCheckpointError) {
  ToyNet target;
  auto sd = module_state_dict(*target);
  sd.insert_or_assign("linear1.bias", int64_t{3});
  const auto e = error_of([&] { load_module_state_dict(*target, sd); });
  EXPECT_EQ(e.code(), Code::kCheckpoint);
  EXPECT_TRUE(contains(e.what(), "linear1.bias")) << e.what();
}

TEST(StateDictTest, SurvivesACheckpointFile) {
  testing::ScratchDir dir;
  ToyNet source;
  set_toy_weights(source);
  Checkpoint ckpt;
  ckpt.set_meta("epoch", int64_t{1});
  ckpt.set("state_dict", module_state_dict(*source));
  save_checkpoint_file(dir.file("epoch_1.pth"), ckpt);
  ToyNet target;
  const auto loaded = load_checkpoint_file(dir.file("epoch_1.pth"));
  load_module_state_dict(*target, loaded.get("state_dict").toGenericDict(), true);
  EXPECT_TRUE(torch::equal(target->linear2->weight, torch::tensor({{0.5f, -0.5f}})));
  EXPECT_TRUE(torch::equal(target->bn->running_mean, torch::tensor({1.5f, -2.0f})));
}

TEST(RngStateTest, RestoreMakesRandReproduce) {
  torch::manual_seed(123);
  torch::rand({3});
  const auto state = capture_rng_state();
  ASSERT_TRUE(state.isGenericDict());
  EXPECT_EQ(state.toGenericDict().at("cpu").toTensor().scalar_type(), torch::kByte);
  EXPECT_EQ(state.toGenericDict().contains("cuda"), torch::cuda::is_available());
  const auto a = torch::rand({5});
  const auto an = torch::randn({4});
  const auto ai = torch::randint(0, 1000, {6});
  torch::manual_seed(999);
  restore_rng_state(state);
  EXPECT_TRUE(torch::equal(torch::rand({5}), a));
  EXPECT_TRUE(torch::equal(torch::randn({4}), an));
  EXPECT_TRUE(torch::equal(torch::randint(0, 1000, {6}), ai));
}

TEST(RngStateTest, SurvivesACheckpointFile) {
  testing::ScratchDir dir;
  torch::manual_seed(7);
  Checkpoint ckpt;
  ckpt.set("rng_state", capture_rng_state());
  save_checkpoint_file(dir.file("iter_1.pth"), ckpt);
  const auto a = torch::rand({8});
  torch::manual_seed(8);
  restore_rng_state(load_checkpoint_file(dir.file("iter_1.pth")).get("rng_state"));
  EXPECT_TRUE(torch::equal(torch::rand({8}), a));
}

TEST(RngStateTest, MalformedStateIsCheckpointError) {
  EXPECT_EQ(error_of([] { restore_rng_state(c10::IValue(int64_t{1})); }).code(), Code::kCheckpoint);
  auto no_cpu = make_generic_dict();
  EXPECT_EQ(error_of([&] { restore_rng_state(c10::IValue(no_cpu)); }).code(), Code::kCheckpoint);
  auto bad = make_generic_dict();
  bad.insert("cpu", torch::zeros({3}, torch::kByte));
  const auto e = error_of([&] { restore_rng_state(c10::IValue(bad)); });
  EXPECT_EQ(e.code(), Code::kCheckpoint);
  EXPECT_TRUE(contains(e.what(), "rng_state.cpu")) << e.what();
}

}  // namespace
}  // namespace mmhook
