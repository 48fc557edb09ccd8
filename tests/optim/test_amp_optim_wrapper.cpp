// AmpOptimWrapper (docs/design.md §B5.2, §B9 check 80) and OptimWrapperDict (§B5.3, §B9 check 81).
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {
namespace {

std::shared_ptr<torch::optim::SGD> sgd_of(const at::Tensor& p, double lr, double momentum = 0) {
  return std::make_shared<torch::optim::SGD>(std::vector<at::Tensor>{p},
                                             torch::optim::SGDOptions(lr).momentum(momentum));
}

TEST(AmpOptimWrapperTest, LossScaleForms) {
  at::Tensor p = torch::ones({1}, torch::requires_grad());
  AmpOptimWrapper dyn(sgd_of(p, 0.1), "SGD");
  EXPECT_EQ(dyn.loss_scaler().get_scale(), 65536.0);
  EXPECT_EQ(dyn.loss_scaler().growth_factor(), 2.0);
  EXPECT_EQ(dyn.loss_scaler().backoff_factor(), 0.5);
  EXPECT_EQ(dyn.loss_scaler().growth_interval(), 2000);
  EXPECT_FALSE(dyn.scale_update_param().has_value());

  AmpOptimWrapper fixed(sgd_of(p, 0.1), "SGD", 512.0);
  EXPECT_EQ(fixed.loss_scaler().get_scale(), 512.0);
  EXPECT_EQ(fixed.scale_update_param(), 512.0);

  AmpOptimWrapper dict(sgd_of(p, 0.1), "SGD",
                       nlohmann::json{{"init_scale", 1.0}, {"growth_factor", 3.0}});
  EXPECT_EQ(dict.loss_scaler().get_scale(), 1.0);
  EXPECT_EQ(dict.loss_scaler().growth_factor(), 3.0);
  EXPECT_FALSE(dict.scale_update_param().has_value());

  try {
    AmpOptimWrapper bad(sgd_of(p, 0.1), "SGD", "unknown");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loss_scale must be of type float, dict, or \"dynamic\""),
              std::string::npos);
  }
  EXPECT_THROW(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", nlohmann::json{{"init", 1.0}}), Error);
}

TEST(AmpOptimWrapperTest, DtypeNames) {
  at::Tensor p = torch::ones({1}, torch::requires_grad());
  EXPECT_EQ(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", "dynamic", std::string("float16")).cast_dtype(),
            at::kHalf);
  EXPECT_EQ(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", "dynamic", std::string("bfloat16")).cast_dtype(),
            at::kBFloat16);
  EXPECT_EQ(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", "dynamic", std::string("float32")).cast_dtype(),
            at::kFloat);
  EXPECT_EQ(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", "dynamic", std::string("float64")).cast_dtype(),
            at::kDouble);
  EXPECT_FALSE(AmpOptimWrapper(sgd_of(p, 0.1), "SGD").cast_dtype().has_value());
  EXPECT_THROW(AmpOptimWrapper(sgd_of(p, 0.1), "SGD", "dynamic", std::string("int8")), Error);
}

TEST(AmpOptimWrapperTest, BackwardScalesAndStepUnscales) {
  at::Tensor p = torch::ones({1}, torch::requires_grad());
  AmpOptimWrapper w(sgd_of(p, 0.1), "SGD", 1024.0);
  w.backward((p * 3.0).sum());
  EXPECT_EQ(p.grad().item<double>(), 3.0 * 1024.0);
  EXPECT_EQ(w.inner_count(), 1);
  w.step();
  EXPECT_EQ(p.grad().item<double>(), 3.0);  // unscaled in place
  EXPECT_NEAR(p.item<double>(), 0.7, 1e-7);
  EXPECT_EQ(w.loss_scaler().get_scale(), 1024.0);  // static scale kept
}

TEST(AmpOptimWrapperTest, ClipSeesUnscaledNorm) {
  at::Tensor p = torch::zeros({2}, torch::requires_grad());
  ClipGradOptions clip;
  clip.max_norm = 100.0;
  AmpOptimWrapper w(sgd_of(p, 1.0), "SGD", "dynamic", std::nullopt, 1, clip);
  double norm = -1;
  w.set_scalar_sink([&](const std::string&, double v) { norm = v; });
  w.backward((p * torch::tensor({3.0f, 4.0f})).sum());
  w.step();
  EXPECT_NEAR(norm, 5.0, 1e-5);
  EXPECT_NEAR(p[0].item<double>(), -3.0, 1e-6);
}

TEST(AmpOptimWrapperTest, DynamicScaleSkipsNonFiniteAndGrows) {
  at::Tensor p = torch::ones({1}, torch::requires_grad());
  AmpOptimWrapper w(sgd_of(p, 0.1), "SGD",
                    nlohmann::json{{"init_scale", 8.0}, {"growth_interval", 2}});
  p.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity()});
  w.step();
  EXPECT_EQ(p.item<double>(), 1.0);  // skipped
  EXPECT_EQ(w.loss_scaler().get_scale(), 4.0);
  EXPECT_EQ(w.loss_scaler().growth_tracker(), 0);
  for (int i = 0; i < 2; ++i) {
    w.zero_grad();
    w.backward((p * 1.0).sum());
    w.step();
  }
  EXPECT_EQ(w.loss_scaler().get_scale(), 8.0);  // grew after 2 finite steps
  EXPECT_NEAR(p.item<double>(), 0.8, 1e-7);
  auto sd = w.state_dict().toGenericDict();
  auto ls = sd.at("loss_scaler").toGenericDict();
  EXPECT_EQ(ls.at("scale").toDouble(), 8.0);
  EXPECT_EQ(ls.at("growth_factor").toDouble(), 2.0);
  EXPECT_EQ(ls.at("backoff_factor").toDouble(), 0.5);
  EXPECT_EQ(ls.at("growth_interval").toInt(), 2);
  EXPECT_EQ(ls.at("_growth_tracker").toInt(), 0);
  EXPECT_TRUE(sd.contains("state"));
  EXPECT_TRUE(sd.contains("param_groups"));

  at::Tensor q = torch::ones({1}, torch::requires_grad());
  AmpOptimWrapper other(sgd_of(q, 0.5), "SGD");
  other.load_state_dict(sd);
  EXPECT_EQ(other.loss_scaler().get_scale(), 8.0);
  EXPECT_EQ(other.loss_scaler().growth_interval(), 2);
  EXPECT_EQ(other.get_lr().at("lr"), std::vector<double>{0.1});
}

TEST(AmpOptimWrapperTest, OptimContextAutocastsConvOnCpu) {
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3)));
  auto params = model->parameters();
  AmpOptimWrapper w(std::make_shared<torch::optim::SGD>(params, torch::optim::SGDOptions(0.1)),
                    "SGD");
  at::Tensor x = torch::randn({1, 1, 5, 5});
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  {
    auto ctx = w.optim_context(*model);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(model->forward(x).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(model->forward(x).scalar_type(), at::kFloat);

  AmpOptimWrapper w32(std::make_shared<torch::optim::SGD>(params, torch::optim::SGDOptions(0.1)),
                      "SGD", "dynamic", std::string("float32"));
  {
    auto ctx = w32.optim_context(*model);  // CPU cannot autocast to float32: plain context
    EXPECT_EQ(model->forward(x).scalar_type(), at::kFloat);
  }
}

TEST(OptimWrapperDictTest, PerNameBehaviour) {
  at::Tensor p1 = torch::ones({1}, torch::requires_grad());
  at::Tensor p2 = torch::ones({1}, torch::requires_grad());
  auto w1 = std::make_shared<OptimWrapper>(sgd_of(p1, 0.1, 0.8), "SGD");
  auto w2 = std::make_shared<OptimWrapper>(sgd_of(p2, 0.2, 0.9), "SGD");
  OptimWrapperDict d({{"optim1", w1}, {"optim2", w2}});
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"optim1", "optim2"}));
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(&d["optim2"], w2.get());
  EXPECT_TRUE(d.contains("optim1"));
  EXPECT_THROW(d["nope"], Error);

  at::Tensor loss = (p1 * 2).sum();
  for (const auto& fn : std::vector<std::function<void()>>{
           [&] { d.update_params(loss); }, [&] { d.backward(loss); }, [&] { d.step(); },
           [&] {
             torch::nn::Linear l(1, 1);
             d.optim_context(*l);
           }}) {
    try {
      fn();
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kFailedPrecondition);
      EXPECT_NE(std::string(e.what()).find("not implemented for OptimWrapperDict"),
                std::string::npos);
    }
  }

  auto lr = d.get_lr();
  EXPECT_EQ(lr.keys(), (std::vector<std::string>{"optim1.lr", "optim2.lr"}));
  EXPECT_EQ(lr.at("optim1.lr"), std::vector<double>{0.1});
  EXPECT_EQ(lr.at("optim2.lr"), std::vector<double>{0.2});
  auto mom = d.get_momentum();
  EXPECT_EQ(mom.at("optim1.momentum"), std::vector<double>{0.8});
  EXPECT_EQ(mom.at("optim2.momentum"), std::vector<double>{0.9});

  p1.mutable_grad() = torch::ones({1});
  p2.mutable_grad() = torch::ones({1});
  d.zero_grad();
  EXPECT_EQ(p1.grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(p2.grad().abs().sum().item<double>(), 0.0);

  ASSERT_EQ(d.num_param_groups(), 2u);
  d.set_group_value(1, "lr", 0.25);
  EXPECT_EQ(w2->get_group_value(0, "lr"), 0.25);

  auto sd = d.state_dict().toGenericDict();
  EXPECT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd.at("optim2")
                .toGenericDict()
                .at("param_groups")
                .toList()
                .get(0)
                .toGenericDict()
                .at("lr")
                .toDouble(),
            0.25);
  w2->set_group_value(0, "lr", 7.0);
  d.load_state_dict(sd);
  EXPECT_EQ(w2->get_group_value(0, "lr"), 0.25);

  auto mismatched = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  mismatched.insert("optim3", sd.at("optim1"));
  try {
    d.load_state_dict(mismatched);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Mismatched state_dict"), std::string::npos);
  }
  EXPECT_THROW(OptimWrapperDict({{"x", nullptr}}), Error);
}

}  // namespace
}  // namespace mmhook
