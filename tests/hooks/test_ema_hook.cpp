// EMAHook and the averaged models (docs/design.md §B4.7, §B9 checks 64-68).

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/hooks/ema_hook.h"
#include "mmhook/model/averaged_model.h"
#include "mmhook/model/base_model.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

// Captures spdlog output of the default logger for the duration of a test.
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
    for (const auto& msg : sink_->last_raw())
      if (std::string(msg.payload.data(), msg.payload.size()).find(text) != std::string::npos)
        return true;
    return false;
  }
  /// Whether a message containing `text` was logged at `level`.
  bool contains_at(const std::string& text, spdlog::level::level_enum level) const {
    for (const auto& msg : sink_->last_raw())
      if (msg.level == level &&
          std::string(msg.payload.data(), msg.payload.size()).find(text) != std::string::npos)
        return true;
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// One scalar parameter `p`, a float buffer `f` and a long buffer `n`.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    p = register_parameter("p", torch::zeros({1}));
    f = register_buffer("f", torch::zeros({1}));
    n = register_buffer("n", torch::zeros({}, torch::kLong));
  }
  void set(float pv, float fv, int64_t nv) {
    torch::NoGradGuard g;
    p.fill_(pv);
    f.fill_(fv);
    n.fill_(nv);
  }
  at::Tensor p, f, n;
};
TORCH_MODULE(Tiny);

float val(const at::Tensor& t) { return t.item<float>(); }

bool has_substr(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// -- averaged models ---------------------------------------------------------------------------

TEST(AveragedModelTest, ExponentialMovingAverageFormula) {
  Tiny src;
  ExponentialMovingAverage ema(*src, /*momentum=*/0.25);
  EXPECT_EQ(ema.steps(), 0);
  EXPECT_FALSE(ema.tensor("p").requires_grad());
  src->set(4, 7, 3);
  ema.update_parameters(*src);  // steps 0: copy
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 4);
  src->set(8, 9, 5);
  ema.update_parameters(*src);  // 4 + 0.25 * (8 - 4)
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 5);
  src->set(1, 11, 6);
  ema.update_parameters(*src);  // 5 + 0.25 * (1 - 5)
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 4);
  // Without update_buffers the buffers are copied every call.
  EXPECT_FLOAT_EQ(val(ema.tensor("f")), 11);
  EXPECT_EQ(ema.tensor("n").item<int64_t>(), 6);
  EXPECT_EQ(ema.steps(), 3);
  // The average has its own storage.
  EXPECT_FLOAT_EQ(val(src->p), 1);
}

TEST(AveragedModelTest, DefaultsAndMomentumRange) {
  Tiny src;
  ExponentialMovingAverage ema(*src);
  EXPECT_DOUBLE_EQ(ema.momentum(), 0.0002);
  EXPECT_EQ(ema.interval(), 1);
  EXPECT_FALSE(ema.update_buffers());
  src->set(0, 0, 0);
  ema.update_parameters(*src);
  src->set(1, 0, 0);
  ema.update_parameters(*src);
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 0.0002f);
  for (double bad : {0.0, 1.0, 1.5, -0.1})
    EXPECT_PRED2(has_substr, message_of([&] { ExponentialMovingAverage e(*src, bad); }),
                 "momentum must be in range (0.0, 1.0)");
  LogCapture logs;
  ExponentialMovingAverage high(*src, 0.9);
  EXPECT_TRUE(logs.contains_at("usually a small number", spdlog::level::warn));
}

TEST(AveragedModelTest, IntervalSkipsUpdates) {
  Tiny src;
  ExponentialMovingAverage ema(*src, 0.5, /*interval=*/2);
  src->set(2, 0, 0);
  ema.update_parameters(*src);  // steps 0: copy -> 2
  src->set(10, 0, 0);
  ema.update_parameters(*src);  // steps 1: 1 % 2 != 0, unchanged
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 2);
  src->set(6, 0, 0);
  ema.update_parameters(*src);  // steps 2: 2 + 0.5 * (6 - 2)
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 4);
  EXPECT_EQ(ema.steps(), 3);
}

TEST(AveragedModelTest, MomentumAnnealingEMA) {
  Tiny src;
  MomentumAnnealingEMA ema(*src, /*momentum=*/0.1, /*gamma=*/2);
  src->set(0, 0, 0);
  ema.update_parameters(*src);  // copy 0
  src->set(3, 0, 0);
  ema.update_parameters(*src);  // m = max(.1, 2/3): 0 + 2/3 * 3 = 2
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 2);
  src->set(6, 0, 0);
  ema.update_parameters(*src);  // m = 2/4: 2 + 0.5 * 4 = 4
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 4);
  src->set(14, 0, 0);
  ema.update_parameters(*src);  // m = 2/5: 4 + 0.4 * 10 = 8
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 8);
  // Once gamma/(gamma+steps) drops below momentum, momentum wins: gamma 2, momentum 0.5, steps 4.
  MomentumAnnealingEMA floor(*src, 0.5, 2);
  for (int i = 0; i < 4; ++i) floor.update_parameters(*src);
  src->set(18, 0, 0);
  floor.update_parameters(*src);  // m = max(.5, 2/6): 14 + 0.5 * 4
  EXPECT_FLOAT_EQ(val(floor.tensor("p")), 16);
}

TEST(AveragedModelTest, StochasticWeightAverageIsTheMean) {
  Tiny src;
  StochasticWeightAverage swa(*src);
  for (float v : {1.f, 3.f, 6.f, 10.f}) {
    src->set(v, 0, 0);
    swa.update_parameters(*src);
  }
  EXPECT_FLOAT_EQ(val(swa.tensor("p")), 5);  // (1 + 3 + 6 + 10) / 4
  // interval 2: weights 1/(steps/2 + 1) on steps 0, 2, 4.
  StochasticWeightAverage swa2(*src, 2);
  for (float v : {2.f, 100.f, 4.f, 100.f, 9.f}) {
    src->set(v, 0, 0);
    swa2.update_parameters(*src);
  }
  EXPECT_FLOAT_EQ(val(swa2.tensor("p")), 5);  // (2 + 4 + 9) / 3
}

TEST(AveragedModelTest, UpdateBuffersAveragesFloatBuffersOnly) {
  Tiny src;
  ExponentialMovingAverage ema(*src, 0.5, 1, /*update_buffers=*/true);
  src->set(0, 2, 3);
  ema.update_parameters(*src);  // copy everything
  src->set(4, 6, 9);
  ema.update_parameters(*src);
  EXPECT_FLOAT_EQ(val(ema.tensor("p")), 2);
  EXPECT_FLOAT_EQ(val(ema.tensor("f")), 4);       // 2 + 0.5 * (6 - 2)
  EXPECT_EQ(ema.tensor("n").item<int64_t>(), 3);  // not floating point: kept from the copy
}

TEST(AveragedModelTest, StateDictRoundTrip) {
  Tiny src;
  ExponentialMovingAverage ema(*src, 0.5);
  src->set(1, 2, 3);
  ema.update_parameters(*src);
  src->set(3, 4, 5);
  ema.update_parameters(*src);
  auto sd = ema.state_dict();
  std::vector<std::string> keys;
  for (const auto& e : sd) keys.push_back(e.key().toStringRef());
  EXPECT_EQ(keys, (std::vector<std::string>{"steps", "module.p", "module.f", "module.n"}));
  EXPECT_EQ(sd.at("steps").toTensor().item<int64_t>(), 2);
  EXPECT_FLOAT_EQ(val(sd.at("module.p").toTensor()), 2);

  Tiny other;
  ExponentialMovingAverage loaded(*other, 0.5);
  auto report = loaded.load_state_dict(sd, /*strict=*/true);
  EXPECT_TRUE(report.missing_keys.empty());
  EXPECT_EQ(loaded.steps(), 2);
  EXPECT_FLOAT_EQ(val(loaded.tensor("p")), 2);
  EXPECT_FLOAT_EQ(val(loaded.tensor("f")), 4);

  auto partial = ema.state_dict();
  EXPECT_EQ(partial.erase("module.f"), 1u);
  EXPECT_PRED2(has_substr, message_of([&] { loaded.load_state_dict(partial, true); }), "module.f");
  report = loaded.load_state_dict(partial, false);
  EXPECT_EQ(report.missing_keys, (std::vector<std::string>{"module.f"}));
}

TEST(AveragedModelTest, BuildByTypeName) {
  Tiny src;
  AveragedModelOptions o;
  EXPECT_EQ(build_averaged_model("ExponentialMovingAverage", *src, o)->type_name(),
            "ExponentialMovingAverage");
  EXPECT_EQ(build_averaged_model("StochasticWeightAverage", *src, o)->type_name(),
            "StochasticWeightAverage");
  o.gamma = 50;
  auto annealing = build_averaged_model("MomentumAnnealingEMA", *src, o);
  EXPECT_DOUBLE_EQ(dynamic_cast<MomentumAnnealingEMA&>(*annealing).gamma(), 50);
  EXPECT_PRED2(has_substr,
               message_of([&] { build_averaged_model("ExponentialMovingAverage", *src, o); }),
               "gamma");
  EXPECT_PRED2(has_substr, message_of([&] { build_averaged_model("Foo", *src, {}); }), "'Foo'");
  AveragedModelOptions on_cpu;
  on_cpu.device = "cpu";
  auto placed = build_averaged_model("ExponentialMovingAverage", *src, on_cpu);
  EXPECT_TRUE(placed->tensor("p").device().is_cpu());
  on_cpu.device = "nowhere";
  EXPECT_PRED2(has_substr,
               message_of([&] { build_averaged_model("ExponentialMovingAverage", *src, on_cpu); }),
               "invalid device 'nowhere'");
}

// -- EMAHook: check 64 -------------------------------------------------------------------------

TEST(EMAHookTest, OptionValidation) {
  auto make = [](EMAHookOptions o) { return message_of([&] { EMAHook h(o); }); };
  EMAHookOptions o;
  o.begin_iter = -1;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.begin_iter must be >= 0, got -1");
  o = {};
  o.begin_epoch = -1;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.begin_epoch must be >= 0, got -1");
  o = {};
  o.begin_epoch = 1;
  o.begin_iter = 1;
  EXPECT_PRED2(has_substr, make(o), "`begin_iter` and `begin_epoch`");
  o = {};
  o.ema_type = "Average";
  EXPECT_PRED2(has_substr, make(o), "EMAHook.ema_type");
  o = {};
  o.momentum = 1.5;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.momentum must be in range (0.0, 1.0), got 1.5");
  o = {};
  o.interval = 0;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.interval must be >= 1, got 0");
  o = {};
  o.gamma = 10;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.gamma");
  o = {};
  o.ema_type = "StochasticWeightAverage";
  o.momentum = 0.1;
  EXPECT_PRED2(has_substr, make(o), "EMAHook.momentum");
  o = {};
  o.device = "gpu7";
  EXPECT_PRED2(has_substr, make(o),
               "EMAHook.device must be a device such as 'cpu' or 'cuda:0', got 'gpu7'");
  o.device = "cpu";
  EXPECT_EQ(make(o), "<no error>");
  EXPECT_EQ(EMAHook().default_priority(), 50);
  EXPECT_FALSE(EMAHook().enabled_by_epoch());
}

TEST(EMAHookTest, ConfigOptionsAndErrorsWithPath) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = {{{"type", "EMAHook"},
                          {"ema_type", "MomentumAnnealingEMA"},
                          {"momentum", 0.001},
                          {"gamma", 50},
                          {"interval", 2},
                          {"update_buffers", true},
                          {"begin_epoch", 1},
                          {"strict_load", true}}};
  {
    Runner runner(cfg);
    auto* hook = dynamic_cast<EMAHook*>(runner.find_hook("EMAHook"));
    ASSERT_NE(hook, nullptr);
    EXPECT_EQ(hook->options().ema_type, "MomentumAnnealingEMA");
    EXPECT_DOUBLE_EQ(*hook->options().momentum, 0.001);
    EXPECT_DOUBLE_EQ(*hook->options().gamma, 50);
    EXPECT_EQ(hook->options().interval, 2);
    EXPECT_TRUE(hook->options().update_buffers);
    EXPECT_TRUE(hook->options().strict_load);
    EXPECT_TRUE(hook->enabled_by_epoch());
    EXPECT_EQ(hook->priority(), 50);
    const auto stages = stage_names(hook->triggered_stages());
    for (const char* stage : {"before_run", "before_train", "after_train_iter", "before_val_epoch",
                              "after_val_epoch", "before_test_epoch", "after_test_epoch",
                              "before_save_checkpoint", "after_load_checkpoint"})
      EXPECT_NE(std::find(stages.begin(), stages.end(), stage), stages.end()) << stage;
    EXPECT_EQ(stages.size(), 9u);
  }
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_iter", -1}}};
  try {
    Runner runner(cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_PRED2(has_substr, std::string(e.what()), "custom_hooks[0]");
    EXPECT_PRED2(has_substr, std::string(e.what()), "EMAHook.begin_iter must be >= 0, got -1");
  }
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"momentom", 0.1}}};
  EXPECT_PRED2(has_substr, message_of([&] { Runner runner(cfg); }), "momentom");
}

TEST(EMAHookTest, BeginBeyondTheRunRaisesInBeforeTrain) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir / "epoch");
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_epoch", 3}}};  // max_epochs 2
  {
    Runner runner(cfg);
    EXPECT_PRED2(has_substr, message_of([&] { runner.train(); }), "begin_epoch");
  }
  cfg = testing::iter_config(dir / "iter");
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_iter", 13}}};  // max_iters 12
  {
    Runner runner(cfg);
    EXPECT_PRED2(has_substr, message_of([&] { runner.train(); }), "begin_iter");
  }
  cfg = testing::epoch_config(dir / "ok");
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_epoch", 2}}};  // == max_epochs is fine
  Runner runner(cfg);
  EXPECT_NO_THROW(runner.train());
}

// -- EMAHook stage behaviour on a toy runner: checks 65-67 -------------------------------------

class EMAHookStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_ = std::make_unique<Runner>(testing::epoch_config(dir_.path()));
    hook_.before_run(*runner_);
  }
  std::vector<at::Tensor> src_params() {
    std::vector<at::Tensor> out;
    for (auto& p : runner_->model().parameters()) out.push_back(p.detach().clone());
    return out;
  }
  std::vector<at::Tensor> ema_params() {
    std::vector<at::Tensor> out;
    for (const auto& t : hook_.ema_model()->tensors()) out.push_back(t.value.clone());
    return out;
  }
  void shift_source(float delta) {
    torch::NoGradGuard g;
    for (auto& p : runner_->model().parameters()) p.add_(delta);
  }
  void train_iter() { hook_.after_train_iter(*runner_, 0, TensorDict(), TensorDict()); }

  TempDir dir_;
  std::unique_ptr<Runner> runner_;
  EMAHook hook_;
};

TEST_F(EMAHookStagesTest, FirstUpdateCopiesThenAverages) {  // check 65
  shift_source(1.0f);
  train_iter();
  auto src = src_params(), ema = ema_params();
  ASSERT_EQ(src.size(), 4u);
  for (size_t i = 0; i < src.size(); ++i) EXPECT_TRUE(torch::equal(src[i], ema[i])) << i;
  EXPECT_EQ(hook_.ema_model()->steps(), 1);
  shift_source(1.0f);
  train_iter();
  auto src2 = src_params(), ema2 = ema_params();
  for (size_t i = 0; i < src2.size(); ++i) {
    EXPECT_FALSE(torch::equal(src2[i], ema2[i])) << i;
    // avg + 0.0002 * (src - avg) with src - avg == 1.
    EXPECT_TRUE(torch::allclose(ema2[i], ema[i] + 0.0002, 0, 1e-6)) << i;
  }
  EXPECT_EQ(hook_.ema_model()->steps(), 2);
}

TEST_F(EMAHookStagesTest, EvalStagesSwapExactly) {  // check 66
  train_iter();
  shift_source(0.5f);
  train_iter();
  const Metrics metrics;
  const std::vector<std::function<void()>> stages = {
      [&] { hook_.before_val_epoch(*runner_); },
      [&] { hook_.after_val_epoch(*runner_, metrics); },
      [&] { hook_.before_test_epoch(*runner_); },
      [&] { hook_.after_test_epoch(*runner_, metrics); },
  };
  for (size_t s = 0; s < stages.size(); ++s) {
    auto src = src_params(), ema = ema_params();
    stages[s]();
    auto new_src = src_params(), new_ema = ema_params();
    for (size_t i = 0; i < src.size(); ++i) {
      EXPECT_FALSE(torch::equal(src[i], ema[i]));
      EXPECT_TRUE(torch::equal(new_ema[i], src[i])) << "stage " << s << " param " << i;
      EXPECT_TRUE(torch::equal(new_src[i], ema[i])) << "stage " << s << " param " << i;
    }
  }
}

TEST_F(EMAHookStagesTest, SaveCheckpointSwapsStateDicts) {  // check 67
  train_iter();
  shift_source(0.25f);
  train_iter();
  Checkpoint ckpt;
  const auto original = module_state_dict(runner_->model());
  ckpt.set("state_dict", module_state_dict(runner_->model()));
  hook_.before_save_checkpoint(*runner_, ckpt);
  auto ema_sd = ckpt.get("ema_state_dict").toGenericDict();
  auto sd = ckpt.get("state_dict").toGenericDict();
  EXPECT_EQ(ema_sd.at("steps").toTensor().item<int64_t>(), 2);
  for (const auto& e : original) {
    const std::string k = e.key().toStringRef();
    EXPECT_TRUE(torch::equal(ema_sd.at("module." + k).toTensor(), e.value().toTensor())) << k;
    EXPECT_TRUE(torch::equal(sd.at(k).toTensor(), hook_.ema_model()->tensor(k))) << k;
    EXPECT_FALSE(torch::equal(sd.at(k).toTensor(), e.value().toTensor())) << k;
  }
}

TEST_F(EMAHookStagesTest, LoadWithoutResumeCopiesStateDict) {  // check 67
  Checkpoint ckpt;
  auto sd = module_state_dict(runner_->model());
  for (const auto& e : sd) e.value().toTensor().fill_(3.5f);
  ckpt.set("state_dict", sd);
  hook_.after_load_checkpoint(*runner_, ckpt);
  for (const auto& t : hook_.ema_model()->tensors())
    EXPECT_TRUE(torch::equal(t.value, torch::full_like(t.value, 3.5f))) << t.name;
  // The checkpoint is left as it was (the runner loads it into the model next).
  for (const auto& e : ckpt.get("state_dict").toGenericDict())
    EXPECT_FLOAT_EQ(e.value().toTensor().view(-1)[0].item<float>(), 3.5f);
  EXPECT_EQ(hook_.ema_model()->steps(), 0);
}

TEST(EMAHookTest, LoadWhenResumingWithoutEmaStateDictWarns) {  // check 67
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["resume"] = true;
  Runner runner(cfg);
  EMAHook hook;
  hook.before_run(runner);
  Checkpoint ckpt;
  auto sd = module_state_dict(runner.model());
  for (const auto& e : sd) e.value().toTensor().fill_(-1.0f);
  ckpt.set("state_dict", sd);
  LogCapture logs;
  hook.after_load_checkpoint(runner, ckpt);
  EXPECT_TRUE(logs.contains_at("There is no `ema_state_dict` in checkpoint", spdlog::level::warn));
  for (const auto& t : hook.ema_model()->tensors())
    EXPECT_TRUE(torch::equal(t.value, torch::full_like(t.value, -1.0f))) << t.name;
}

TEST(EMAHookTest, LoadWhenResumingSwapsBack) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["resume"] = true;
  Runner runner(cfg);
  EMAHook hook;
  hook.before_run(runner);
  {
    torch::NoGradGuard g;
    for (auto& p : runner.model().parameters()) p.fill_(1.0f);
  }
  hook.after_train_iter(runner, 0, TensorDict(), TensorDict());
  {
    torch::NoGradGuard g;
    for (auto& p : runner.model().parameters()) p.fill_(2.0f);
  }
  hook.after_train_iter(runner, 0, TensorDict(), TensorDict());  // ema = 1.0002
  Checkpoint ckpt;
  ckpt.set("state_dict", module_state_dict(runner.model()));
  hook.before_save_checkpoint(runner, ckpt);

  EMAHook fresh;
  fresh.before_run(runner);
  LogCapture logs;
  fresh.after_load_checkpoint(runner, ckpt);
  EXPECT_FALSE(logs.contains("There is no"));
  EXPECT_EQ(fresh.ema_model()->steps(), 2);
  for (const auto& t : fresh.ema_model()->tensors())
    EXPECT_TRUE(torch::equal(t.value, hook.ema_model()->tensor(t.name))) << t.name;
  // state_dict holds the training weights again, ema_state_dict the average.
  for (const auto& e : ckpt.get("state_dict").toGenericDict())
    EXPECT_TRUE(torch::equal(e.value().toTensor(), torch::full_like(e.value().toTensor(), 2.0f)));
  EXPECT_NEAR(ckpt.get("ema_state_dict")
                  .toGenericDict()
                  .at("module.linear1.bias")
                  .toTensor()
                  .view(-1)[0]
                  .item<float>(),
              1.0002f, 1e-6);
}

// -- end to end: check 68 and resume -----------------------------------------------------------

c10::impl::GenericDict dict_of(const Checkpoint& ckpt, const char* key) {
  return ckpt.get(key).toGenericDict();
}

// Whether `state_dict[k] == ema_state_dict["module." + k]` for every weight.
bool ema_equals_model(const Checkpoint& ckpt) {
  auto sd = dict_of(ckpt, "state_dict");
  auto ema = dict_of(ckpt, "ema_state_dict");
  EXPECT_EQ(ema.size(), sd.size() + 1);
  for (const auto& e : sd)
    if (!torch::equal(e.value().toTensor(), ema.at("module." + e.key().toStringRef()).toTensor()))
      return false;
  return true;
}

int64_t steps_of(const Checkpoint& ckpt) {
  return dict_of(ckpt, "ema_state_dict").at("steps").toTensor().item<int64_t>();
}

TEST(EMAHookRunTest, TwoEpochsStoreEightSteps) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = {{{"type", "EMAHook"}}};
  Runner runner(cfg);
  runner.train();
  auto* hook = dynamic_cast<EMAHook*>(runner.find_hook("EMAHook"));
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->ema_model()->steps(), 8);
  Checkpoint ckpt = load_checkpoint_file(dir / "epoch_2.pth");
  EXPECT_EQ(steps_of(ckpt), 8);
  // state_dict holds the EMA weights, ema_state_dict the training weights.
  auto sd = dict_of(ckpt, "state_dict");
  auto ema_sd = dict_of(ckpt, "ema_state_dict");
  for (const auto& t : hook->ema_model()->tensors()) {
    EXPECT_TRUE(torch::equal(sd.at(t.name).toTensor(), t.value)) << t.name;
  }
  auto live = module_state_dict(runner.model());
  for (const auto& e : live)
    EXPECT_TRUE(torch::equal(ema_sd.at("module." + e.key().toStringRef()).toTensor(),
                             e.value().toTensor()));
  EXPECT_FALSE(ema_equals_model(ckpt));
}

TEST(EMAHookRunTest, BeginEpochCopiesUntilStart) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["train_cfg"]["max_epochs"] = 10;
  cfg["train_cfg"]["val_interval"] = 100;
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_epoch", 5}}};
  Runner runner(cfg);
  runner.train();
  Checkpoint e4 = load_checkpoint_file(dir / "epoch_4.pth");
  EXPECT_TRUE(ema_equals_model(e4));
  EXPECT_EQ(steps_of(e4), 0);
  Checkpoint e5 = load_checkpoint_file(dir / "epoch_5.pth");
  EXPECT_FALSE(ema_equals_model(e5));
  EXPECT_EQ(steps_of(e5), 4);
  EXPECT_EQ(steps_of(load_checkpoint_file(dir / "epoch_10.pth")), 24);
}

TEST(EMAHookRunTest, BeginIterCopiesUntilStart) {
  TempDir dir;
  auto cfg = testing::iter_config(dir.path());
  cfg["default_hooks"]["checkpoint"]["interval"] = 1;
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"begin_iter", 5}}};
  Runner runner(cfg);
  runner.train();
  Checkpoint i4 = load_checkpoint_file(dir / "iter_4.pth");
  EXPECT_TRUE(ema_equals_model(i4));
  EXPECT_EQ(steps_of(i4), 0);
  Checkpoint i5 = load_checkpoint_file(dir / "iter_5.pth");
  ASSERT_TRUE(i5.contains("ema_state_dict"));
  EXPECT_EQ(steps_of(i5), 1);
  EXPECT_TRUE(ema_equals_model(i5));  // the first update copies
  Checkpoint i6 = load_checkpoint_file(dir / "iter_6.pth");
  EXPECT_EQ(steps_of(i6), 2);
  EXPECT_FALSE(ema_equals_model(i6));
}

TEST(EMAHookRunTest, ValidationRunsOnEmaWeightsAndRestoresTraining) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"momentum", 0.5}}};
  Runner runner(cfg);
  auto* ema = dynamic_cast<EMAHook*>(runner.find_hook("EMAHook"));
  ASSERT_NE(ema, nullptr);
  // Record what the model holds during each val epoch, at LOW priority (after the swap).
  struct Snap : HookImpl<Snap> {
    EMAHook* ema = nullptr;
    std::vector<std::vector<at::Tensor>> model_in_val, ema_in_val;
    void before_val_epoch(Runner& r) override {
      std::vector<at::Tensor> m, e;
      for (auto& p : r.model().parameters()) m.push_back(p.detach().clone());
      for (const auto& t : ema->ema_model()->tensors()) e.push_back(t.value.clone());
      model_in_val.push_back(m);
      ema_in_val.push_back(e);
    }
  };
  auto snap = std::make_shared<Snap>();
  snap->ema = ema;
  runner.register_hook(snap, 70);
  runner.train();
  ASSERT_EQ(snap->model_in_val.size(), 2u);
  // After training the EMA tensors and the model differ; the last val epoch saw them swapped:
  // the model held the EMA weights, the EMA held the training weights (now restored).
  const auto& m = snap->model_in_val.back();
  const auto& e = snap->ema_in_val.back();
  size_t i = 0;
  for (auto& p : runner.model().parameters()) {
    EXPECT_TRUE(torch::equal(e[i], p.detach())) << i;  // training weights
    EXPECT_TRUE(torch::equal(m[i], ema->ema_model()->tensors()[i].value)) << i;
    EXPECT_FALSE(torch::equal(m[i], e[i])) << i;
    ++i;
  }
}

TEST(EMAHookRunTest, ResumeContinuesTheAverageExactly) {
  TempDir dir;
  auto cfg_for = [&](const std::string& sub, int64_t epochs) {
    auto cfg = testing::epoch_config(dir / sub);
    cfg["train_cfg"]["max_epochs"] = epochs;
    cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"momentum", 0.1}}};
    return cfg;
  };
  {
    Runner runner(cfg_for("straight", 3));
    runner.train();
  }
  {
    Runner runner(cfg_for("split", 2));
    runner.train();
  }
  {
    auto cfg = cfg_for("split", 3);
    cfg["resume"] = true;
    Runner runner(cfg);
    runner.train();
    auto* hook = dynamic_cast<EMAHook*>(runner.find_hook("EMAHook"));
    EXPECT_EQ(hook->ema_model()->steps(), 12);
  }
  Checkpoint straight = load_checkpoint_file(dir / "straight/epoch_3.pth");
  Checkpoint resumed = load_checkpoint_file(dir / "split/epoch_3.pth");
  EXPECT_EQ(steps_of(resumed), 12);
  for (const char* key : {"state_dict", "ema_state_dict"}) {
    auto a = dict_of(straight, key);
    auto b = dict_of(resumed, key);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& e : a)
      EXPECT_TRUE(torch::equal(e.value().toTensor(), b.at(e.key()).toTensor()))
          << key << " " << e.key().toStringRef();
  }
}

TEST(EMAHookRunTest, LoadFromEvaluatesTheStoredEma) {
  TempDir dir;
  {
    auto cfg = testing::epoch_config(dir / "train");
    cfg["custom_hooks"] = {{{"type", "EMAHook"}, {"momentum", 0.1}}};
    Runner runner(cfg);
    runner.train();
  }
  Checkpoint ckpt = load_checkpoint_file(dir / "train/epoch_2.pth");
  auto cfg = testing::epoch_config(dir / "eval");
  cfg["custom_hooks"] = {{{"type", "EMAHook"}}};
  cfg["load_from"] = dir / "train/epoch_2.pth";
  Runner runner(cfg);
  runner.test();
  auto* hook = dynamic_cast<EMAHook*>(runner.find_hook("EMAHook"));
  auto sd = dict_of(ckpt, "state_dict");
  for (const auto& t : hook->ema_model()->tensors())
    EXPECT_TRUE(torch::equal(t.value, sd.at(t.name).toTensor())) << t.name;
  for (const auto& e : module_state_dict(runner.model()))
    EXPECT_TRUE(torch::equal(e.value().toTensor(), sd.at(e.key()).toTensor()));
}

}  // namespace
}  // namespace mmhook
