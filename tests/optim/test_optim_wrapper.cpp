// OptimWrapper checks (docs/design.md §B5.1, §B9 checks 74-78): accumulation factors, step counts,
// remainder, clipping, lr/momentum views, state dict layout and bit-identical resume.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "mmhook/core/error.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {
namespace {

struct ToyModelImpl : torch::nn::Module {
  ToyModelImpl() {
    linear1 = register_module("linear1", torch::nn::Linear(2, 2));
    linear2 = register_module("linear2", torch::nn::Linear(2, 1));
  }
  at::Tensor forward(const at::Tensor& x) { return linear2->forward(linear1->forward(x)); }
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
};
TORCH_MODULE(ToyModel);

struct BnModelImpl : torch::nn::Module {
  BnModelImpl() { bn = register_module("bn", torch::nn::BatchNorm1d(2)); }
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(BnModel);

// Captures spdlog warnings for the duration of a test.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  bool contains(const std::string& text) const {
    for (const auto& line : sink_->last_formatted())
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// A single scalar parameter p with loss = p * c, so the gradient equals the loss scale.
struct ScalarSetup {
  at::Tensor p = torch::ones({1}, torch::requires_grad());
  std::shared_ptr<torch::optim::SGD> sgd = std::make_shared<torch::optim::SGD>(
      std::vector<at::Tensor>{p}, torch::optim::SGDOptions(0.1));
  at::Tensor loss() const { return (p * 3.0).sum(); }
};

TEST(OptimWrapperTest, InitDefaults) {
  ScalarSetup s;
  OptimWrapper w(s.sgd, "SGD");
  EXPECT_FALSE(w.clip_grad().has_value());
  EXPECT_EQ(w.accumulative_counts(), 1);
  EXPECT_EQ(w.inner_count(), 0);
  EXPECT_EQ(w.max_counts(), -1);
  EXPECT_EQ(w.remainder_counts(), -1);
  EXPECT_THROW(OptimWrapper(s.sgd, "SGD", 0), Error);
  ClipGradOptions bad;
  bad.type = "l1";
  EXPECT_THROW(OptimWrapper(s.sgd, "SGD", 1, bad), Error);
  EXPECT_THROW(OptimWrapper(s.sgd, "LBFGS"), Error);
}

TEST(OptimWrapperTest, NoAccumulationStepsEveryCall) {
  ScalarSetup s;
  OptimWrapper w(s.sgd, "SGD");
  EXPECT_TRUE(torch::equal(w.scale_loss(s.loss()), s.loss()));
  w.update_params(s.loss());
  // stepped: p = 1 - 0.1 * 3; and zero_grad ran.
  EXPECT_NEAR(s.p.item<double>(), 0.7, 1e-7);
  EXPECT_TRUE(!s.p.grad().defined() || s.p.grad().abs().sum().item<double>() == 0.0);
  EXPECT_EQ(w.inner_count(), 1);
}

TEST(OptimWrapperTest, AccumulationScalesAndStepsEveryThird) {
  ScalarSetup s;
  OptimWrapper w(s.sgd, "SGD", 3);
  w.update_params(s.loss());
  EXPECT_NEAR(s.p.grad().item<double>(), 1.0, 1e-7);  // 3 / 3
  EXPECT_EQ(s.p.item<double>(), 1.0);                 // no step yet
  w.update_params(s.loss());
  EXPECT_NEAR(s.p.grad().item<double>(), 2.0, 1e-7);
  EXPECT_EQ(s.p.item<double>(), 1.0);
  w.update_params(s.loss());
  EXPECT_NEAR(s.p.item<double>(), 1.0 - 0.1 * 3.0, 1e-7);  // one step on the accumulated 3
  EXPECT_EQ(w.inner_count(), 3);
}

TEST(OptimWrapperTest, AccumulationCountStatusCases) {
  {
    // _inner_count=99 without initialize: factor 1/3 and no step (100 % 3 != 0).
    ScalarSetup s;
    OptimWrapper w(s.sgd, "SGD", 3);
    w.set_inner_count(99);
    EXPECT_NEAR(w.scale_loss(s.loss()).item<double>(), 1.0, 1e-7);
    w.update_params(s.loss());
    EXPECT_EQ(s.p.item<double>(), 1.0);
  }
  {
    // initialize(99, 100): the last iteration uses the remainder (1) and always steps.
    ScalarSetup s;
    ToyModel m;
    OptimWrapper w(s.sgd, "SGD", 3);
    w.initialize_count_status(*m, 99, 100);
    EXPECT_NEAR(w.scale_loss(s.loss()).item<double>(), 3.0, 1e-7);
    w.update_params(s.loss());
    EXPECT_NEAR(s.p.item<double>(), 0.7, 1e-7);
  }
  {
    // initialize(96, 100) then 2 calls: factor 1/3, no step.
    ScalarSetup s;
    ToyModel m;
    OptimWrapper w(s.sgd, "SGD", 3);
    w.initialize_count_status(*m, 96, 100);
    w.update_params(s.loss());
    w.update_params(s.loss());
    EXPECT_NEAR(s.p.grad().item<double>(), 2.0, 1e-7);
    EXPECT_EQ(s.p.item<double>(), 1.0);
    EXPECT_EQ(w.inner_count(), 98);
  }
}

TEST(OptimWrapperTest, WholeRunAccumulationWithRemainder) {
  // 10 iterations, acc=4: steps after iterations 4, 8 and 10 (last two divided by 2).
  ScalarSetup s;
  ToyModel m;
  OptimWrapper w(s.sgd, "SGD", 4);
  w.initialize_count_status(*m, 0, 10);
  EXPECT_EQ(w.remainder_counts(), 2);
  std::vector<int> step_iters;
  for (int i = 1; i <= 10; ++i) {
    const double before = s.p.item<double>();
    w.update_params(s.loss());
    if (s.p.item<double>() != before) step_iters.push_back(i);
  }
  EXPECT_EQ(step_iters, (std::vector<int>{4, 8, 10}));
  // every step uses an averaged gradient of 3: three steps of 0.3 each.
  EXPECT_NEAR(s.p.item<double>(), 1.0 - 3 * 0.3, 1e-6);
}

TEST(OptimWrapperTest, ShouldSync) {
  ScalarSetup s;
  OptimWrapper w(s.sgd, "SGD", 3);
  EXPECT_FALSE(w.should_sync());
  w.set_inner_count(2);
  EXPECT_TRUE(w.should_sync());
}

TEST(OptimWrapperTest, InitializeCountStatusWarnings) {
  ScalarSetup s;
  ToyModel toy;
  OptimWrapper w(s.sgd, "SGD", 3);
  w.initialize_count_status(*toy, 0, 100);
  EXPECT_EQ(w.remainder_counts(), 1);
  EXPECT_EQ(w.max_counts(), 100);
  {
    LogCapture log;
    w.initialize_count_status(*toy, 2, 100);
    EXPECT_TRUE(log.contains("Resumed iteration number is not divisible"));
    EXPECT_FALSE(log.contains("Gradient accumulative"));
  }
  {
    LogCapture log;
    BnModel bn;
    w.initialize_count_status(*bn, 0, 100);
    EXPECT_TRUE(log.contains("Gradient accumulative may slightly decrease performance"));
  }
}

TEST(OptimWrapperTest, ClipGradNormReportsGradNorm) {
  at::Tensor p = torch::zeros({2}, torch::requires_grad());
  auto sgd = std::make_shared<torch::optim::SGD>(std::vector<at::Tensor>{p},
                                                 torch::optim::SGDOptions(1.0));
  ClipGradOptions clip;
  clip.max_norm = 1.0;
  OptimWrapper w(sgd, "SGD", 1, clip);
  std::vector<std::pair<std::string, double>> seen;
  w.set_scalar_sink([&](const std::string& k, double v) { seen.emplace_back(k, v); });
  p.mutable_grad() = torch::tensor({3.0f, 4.0f});
  w.step();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, "train/grad_norm");
  EXPECT_NEAR(seen[0].second, 5.0, 1e-6);
  // clipped to norm 1 (coef 1/(5+1e-6)), then lr 1 step
  EXPECT_NEAR(p[0].item<double>(), -0.6, 1e-6);
  EXPECT_NEAR(p[1].item<double>(), -0.8, 1e-6);
}

TEST(OptimWrapperTest, ClipGradValue) {
  at::Tensor p = torch::zeros({2}, torch::requires_grad());
  auto sgd = std::make_shared<torch::optim::SGD>(std::vector<at::Tensor>{p},
                                                 torch::optim::SGDOptions(1.0));
  ClipGradOptions clip;
  clip.type = "value";
  clip.clip_value = 0.5;
  OptimWrapper w(sgd, "SGD", 1, clip);
  int reports = 0;
  w.set_scalar_sink([&](const std::string&, double) { ++reports; });
  p.mutable_grad() = torch::tensor({3.0f, -0.25f});
  w.step();
  EXPECT_EQ(reports, 0);
  EXPECT_NEAR(p[0].item<double>(), -0.5, 1e-7);
  EXPECT_NEAR(p[1].item<double>(), 0.25, 1e-7);
}

TEST(OptimWrapperTest, GetLrAndMomentum) {
  ToyModel m;
  auto sgd = std::make_shared<torch::optim::SGD>(m->parameters(),
                                                 torch::optim::SGDOptions(0.1).momentum(0.8));
  OptimWrapper w(sgd, "SGD");
  auto lr = w.get_lr();
  EXPECT_EQ(lr.keys(), std::vector<std::string>{"lr"});
  EXPECT_EQ(lr.at("lr"), std::vector<double>{0.1});
  EXPECT_EQ(w.get_momentum().at("momentum"), std::vector<double>{0.8});

  auto adam = std::make_shared<torch::optim::Adam>(
      m->parameters(), torch::optim::AdamOptions(0.1).betas(std::make_tuple(0.9, 0.9)));
  OptimWrapper wa(adam, "Adam");
  EXPECT_EQ(wa.get_momentum().at("momentum"), std::vector<double>{0.9});
  wa.set_group_value(0, "momentum", 0.5);
  EXPECT_EQ(std::get<0>(
                static_cast<torch::optim::AdamOptions&>(adam->param_groups()[0].options()).betas()),
            0.5);

  auto adagrad =
      std::make_shared<torch::optim::Adagrad>(m->parameters(), torch::optim::AdagradOptions(0.1));
  OptimWrapper wg(adagrad, "Adagrad");
  EXPECT_EQ(wg.get_momentum().at("momentum"), std::vector<double>{0.0});
  EXPECT_FALSE(wg.has_group_value(0, "momentum"));
}

TEST(OptimWrapperTest, GroupValuesAndBaseGroup) {
  ToyModel m;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(m->linear1->parameters(), std::make_unique<torch::optim::SGDOptions>(0.01));
  groups.emplace_back(m->linear2->parameters(), std::make_unique<torch::optim::SGDOptions>(0.02));
  auto sgd =
      std::make_shared<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.1).momentum(0.9));
  OptimWrapper w(sgd, "SGD");
  ASSERT_EQ(w.num_param_groups(), 3u);
  auto lr = w.get_lr();
  EXPECT_EQ(lr.keys(), (std::vector<std::string>{"base_lr", "lr"}));
  EXPECT_EQ(lr.at("base_lr"), std::vector<double>{0.1});
  EXPECT_EQ(lr.at("lr"), (std::vector<double>{0.01, 0.02}));
  w.set_group_value(1, "lr", 0.5);
  EXPECT_EQ(sgd->param_groups()[1].options().get_lr(), 0.5);
  // get_lr_into: the same values, in a reused map (the storage stays where it was), and a map
  // with other keys is replaced.
  OrderedMap<std::vector<double>> into{{"stale", {1.0, 2.0, 3.0}}};
  w.get_lr_into(into);
  EXPECT_EQ(into.keys(), (std::vector<std::string>{"base_lr", "lr"}));
  const double* storage = into.at("lr").data();
  w.set_group_value(0, "lr", 0.25);
  w.get_lr_into(into);
  EXPECT_EQ(into.at("base_lr"), std::vector<double>{0.1});
  EXPECT_EQ(into.at("lr"), (std::vector<double>{0.25, 0.5}));
  EXPECT_EQ(into.at("lr").data(), storage);
  w.set_group_value(2, "initial_lr", 0.1);
  EXPECT_EQ(w.get_group_value(2, "initial_lr"), 0.1);
  try {
    w.get_group_value(0, "initial_lr");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_NE(std::string(e.what()).find("initial_lr"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("group 0"), std::string::npos);
  }
  auto sd = w.state_dict().toGenericDict();
  auto base = sd.at("base_param_settings").toGenericDict();
  EXPECT_EQ(base.at("lr").toDouble(), 0.1);
  EXPECT_EQ(base.at("initial_lr").toDouble(), 0.1);
  EXPECT_EQ(base.at("momentum").toDouble(), 0.9);
  EXPECT_TRUE(base.at("params").isTensor());
}

// Trains `model` on a fixed batch for `n` steps.
void train(ToyModel& model, OptimWrapper& w, int n) {
  torch::manual_seed(0);
  at::Tensor x = torch::tensor({{1.0f, 2.0f}, {-1.0f, 0.5f}, {0.3f, -0.7f}});
  at::Tensor y = torch::tensor({{1.0f}, {0.0f}, {2.0f}});
  for (int i = 0; i < n; ++i) w.update_params((y - model->forward(x)).pow(2).sum());
}

void copy_params(ToyModel& dst, ToyModel& src) {
  torch::NoGradGuard g;
  auto d = dst->parameters();
  auto s = src->parameters();
  for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]);
}

std::shared_ptr<torch::optim::Optimizer> make(const std::string& type, ToyModel& m) {
  if (type == "SGD")
    return std::make_shared<torch::optim::SGD>(m->parameters(),
                                               torch::optim::SGDOptions(0.05).momentum(0.9));
  if (type == "Adam")
    return std::make_shared<torch::optim::Adam>(m->parameters(), torch::optim::AdamOptions(0.01));
  if (type == "AdamW")
    return std::make_shared<torch::optim::AdamW>(m->parameters(),
                                                 torch::optim::AdamWOptions(0.01).amsgrad(true));
  if (type == "RMSprop")
    return std::make_shared<torch::optim::RMSprop>(
        m->parameters(), torch::optim::RMSpropOptions(0.01).momentum(0.5).centered(true));
  return std::make_shared<torch::optim::Adagrad>(m->parameters(),
                                                 torch::optim::AdagradOptions(0.05));
}

TEST(OptimWrapperTest, StateDictLayout) {
  ToyModel m;
  OptimWrapper w(make("SGD", m), "SGD");
  train(m, w, 1);
  auto sd = w.state_dict().toGenericDict();
  ASSERT_EQ(sd.size(), 2u);
  auto state = sd.at("state").toGenericDict();
  EXPECT_EQ(state.size(), 4u);
  for (int64_t i = 0; i < 4; ++i) {
    auto ps = state.at(i).toGenericDict();
    EXPECT_TRUE(ps.at("momentum_buffer").isTensor());
  }
  auto groups = sd.at("param_groups").toList();
  ASSERT_EQ(groups.size(), 1u);
  auto g0 = groups.get(0).toGenericDict();
  EXPECT_EQ(g0.at("lr").toDouble(), 0.05);
  EXPECT_EQ(g0.at("momentum").toDouble(), 0.9);
  EXPECT_EQ(g0.at("params").toIntVector(), (std::vector<int64_t>{0, 1, 2, 3}));

  ToyModel m2;
  OptimWrapper wa(make("Adam", m2), "Adam");
  train(m2, wa, 2);
  auto as = wa.state_dict().toGenericDict().at("state").toGenericDict().at(0).toGenericDict();
  EXPECT_EQ(as.at("step").toTensor().item<double>(), 2.0);
  EXPECT_TRUE(as.at("exp_avg").isTensor());
  EXPECT_TRUE(as.at("exp_avg_sq").isTensor());
  EXPECT_FALSE(as.contains("max_exp_avg_sq"));
}

class OptimResumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimResumeTest, RoundTripContinuesBitIdentically) {
  const std::string type = GetParam();
  ToyModel a;
  OptimWrapper wa(make(type, a), type);
  train(a, wa, 3);
  // Snapshot through the pickle format, as a checkpoint would.
  std::vector<char> bytes = torch::pickle_save(wa.state_dict());
  ToyModel b;
  copy_params(b, a);
  train(a, wa, 4);

  OptimWrapper wb(make(type, b), type);
  wb.set_group_value(0, "lr", 123.0);  // overwritten by the load
  wb.load_state_dict(torch::pickle_load(bytes));
  EXPECT_EQ(wb.get_lr().at("lr"), wa.get_lr().at("lr"));
  train(b, wb, 4);
  auto pa = a->parameters();
  auto pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << type << " param " << i;
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, OptimResumeTest,
                         ::testing::Values("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"));

TEST(OptimWrapperTest, LoadRejectsMismatchedGroups) {
  ToyModel m;
  OptimWrapper w(make("SGD", m), "SGD");
  auto sd = w.state_dict().toGenericDict();
  auto groups = sd.at("param_groups").toList();
  groups.push_back(groups.get(0));
  try {
    w.load_state_dict(sd);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCheckpoint);
  }
}

TEST(OptimWrapperTest, PythonReadsStateDict) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  ToyModel m;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(m->linear1->parameters(), std::make_unique<torch::optim::AdamOptions>(0.01));
  groups.emplace_back(m->linear2->parameters(), std::make_unique<torch::optim::AdamOptions>(0.02));
  OptimWrapper w(std::make_shared<torch::optim::Adam>(groups, torch::optim::AdamOptions(0.1)),
                 "Adam");
  w.set_group_value(0, "initial_lr", 0.01);
  train(m, w, 2);
  const std::string path = ::testing::TempDir() + "optim_sd.pth";
  {
    std::vector<char> bytes = torch::pickle_save(w.state_dict());
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const std::string script =
      "import torch\n"
      "sd = torch.load('" +
      path +
      "')\n"
      "assert type(sd) is dict, type(sd)\n"
      "assert set(sd) == {'state', 'param_groups', 'base_param_settings'}, sd.keys()\n"
      "assert sorted(sd['state']) == [0, 1, 2, 3], sd['state'].keys()\n"
      "s = sd['state'][2]\n"
      "assert set(s) == {'step', 'exp_avg', 'exp_avg_sq'} and float(s['step']) == 2.0\n"
      "g = sd['param_groups']\n"
      "assert [x['params'] for x in g] == [[0, 1], [2, 3]]\n"
      "assert g[0]['lr'] == 0.01 and g[1]['lr'] == 0.02 and g[0]['initial_lr'] == 0.01\n"
      "assert tuple(g[0]['betas']) == (0.9, 0.999)\n"
      "assert sd['base_param_settings']['lr'] == 0.1\n"
      "p = [torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(2)),\n"
      "     torch.nn.Parameter(torch.zeros(1, 2)), torch.nn.Parameter(torch.zeros(1))]\n"
      "opt = torch.optim.Adam([{'params': p[:2]}, {'params': p[2:]}], lr=0.1)\n"
      "sd.pop('base_param_settings')\n"
      "opt.load_state_dict(sd)\n"
      "for q in p: q.grad = torch.ones_like(q)\n"
      "opt.step()\n";
  const std::string script_path = ::testing::TempDir() + "optim_sd_check.py";
  std::ofstream(script_path) << script;
  EXPECT_EQ(std::system(("/usr/bin/python3 " + script_path).c_str()), 0);
}

}  // namespace
}  // namespace mmhook
