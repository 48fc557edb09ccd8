// Dispatcher timing modes (issue 7): calls are exact in every mode; "all" times every call,
// "sampled" the rare stages always and the per-iteration ones one call in N; "off" none.
// env_cfg's thread/allocator/timing keys.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "mmhook/config/config_node.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/env_setup.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

class IterAndRunHook : public HookImpl<IterAndRunHook> {
 public:
  int64_t iters = 0;
  bool fail_at_iter = false;
  void before_run(Runner&) override {}
  void after_train_iter(Runner&, int64_t, const TensorDict&, const TensorDict&) override {
    ++iters;
    if (fail_at_iter) throw Error(Code::kInternal, "boom");
  }
};

// A runner to pass to the dispatcher (the hooks here do not use it).
std::unique_ptr<Runner> make_runner(const std::string& dir) {
  nlohmann::json cfg = {
      {"work_dir", dir}, {"model", {{"type", "ToyModel"}}}, {"log_level", "ERROR"}};
  return std::make_unique<Runner>(cfg);
}

const HookTiming* find(const std::vector<HookTiming>& t, const std::string& hook,
                       const std::string& stage) {
  for (const auto& x : t)
    if (x.hook == hook && x.stage == stage) return &x;
  return nullptr;
}

struct Calls {
  Dispatcher d;
  std::shared_ptr<IterAndRunHook> a = std::make_shared<IterAndRunHook>();
  std::shared_ptr<IterAndRunHook> b = std::make_shared<IterAndRunHook>();
  TensorDict batch, outputs;
  StageArgs args;
  Calls() {
    d.add(a, 50);
    d.add(b, 60);
    args.batch_idx = 0;
    args.data_batch = &batch;
    args.outputs = &outputs;
  }
  void run(Runner& r, int iters) {
    d.call(Stage::kBeforeRun, r, args);
    for (int i = 0; i < iters; ++i) d.call(Stage::kAfterTrainIter, r, args);
  }
};

TEST(DispatcherTiming, SampledIsDefaultAndCountsEveryCall) {
  TempDir dir;
  auto runner = make_runner(dir.path());
  Runner& r = *runner;
  Calls c;
  if (std::getenv("MMHOOK_HOOK_TIMING") == nullptr) {
    EXPECT_EQ(c.d.timing_mode(), HookTimingMode::kSampled);
  }
  c.d.set_timing(HookTimingMode::kSampled, 10);
  c.run(r, 100);
  const auto t = c.d.timings();
  const HookTiming* iter = find(t, c.a->name(), "after_train_iter");
  ASSERT_NE(iter, nullptr);
  EXPECT_EQ(iter->calls, 100u);
  EXPECT_EQ(iter->timed_calls, 10u);  // calls 1, 11, 21, ...
  EXPECT_GT(iter->total_ms, 0.0);
  const HookTiming* run = find(t, c.b->name(), "before_run");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->calls, 1u);
  EXPECT_EQ(run->timed_calls, 1u);  // rare stages: every call
  EXPECT_EQ(c.a->iters, 100);
}

TEST(DispatcherTiming, AllAndOff) {
  TempDir dir;
  auto runner = make_runner(dir.path());
  Runner& r = *runner;
  Calls all;
  all.d.set_timing(HookTimingMode::kAll);
  all.run(r, 37);
  const auto all_timings = all.d.timings();
  const HookTiming* t = find(all_timings, all.b->name(), "after_train_iter");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->calls, 37u);
  EXPECT_EQ(t->timed_calls, 37u);

  Calls off;
  off.d.set_timing(HookTimingMode::kOff);
  off.run(r, 37);
  const auto timings = off.d.timings();
  t = find(timings, off.b->name(), "after_train_iter");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->calls, 37u);
  EXPECT_EQ(t->timed_calls, 0u);
  EXPECT_EQ(t->total_ms, 0.0);
  off.d.reset_timings();
  EXPECT_TRUE(off.d.timings().empty());
}

TEST(DispatcherTiming, CountsSurviveAddRemoveAndThrowingHooks) {
  TempDir dir;
  auto runner = make_runner(dir.path());
  Runner& r = *runner;
  Calls c;
  c.run(r, 5);
  auto late = std::make_shared<IterAndRunHook>();
  c.d.add(late, 70);
  c.run(r, 3);
  auto t = c.d.timings();
  EXPECT_EQ(find(t, c.a->name(), "after_train_iter")->calls, 8u);
  EXPECT_EQ(find(t, late->name(), "after_train_iter")->calls, 3u);
  EXPECT_TRUE(c.d.remove(late->name()));
  c.run(r, 2);
  // a throws: b (after it) is not called and not counted.
  c.a->fail_at_iter = true;
  EXPECT_THROW(c.d.call(Stage::kAfterTrainIter, r, c.args), HookError);
  t = c.d.timings();
  EXPECT_EQ(find(t, c.a->name(), "after_train_iter")->calls, 11u);
  EXPECT_EQ(find(t, c.b->name(), "after_train_iter")->calls, 10u);
  EXPECT_EQ(c.b->iters, 10);
}

TEST(DispatcherTiming, ParseMode) {
  EXPECT_EQ(parse_hook_timing_mode("all", "x"), HookTimingMode::kAll);
  EXPECT_EQ(parse_hook_timing_mode("off", "x"), HookTimingMode::kOff);
  EXPECT_STREQ(hook_timing_mode_name(HookTimingMode::kSampled), "sampled");
  try {
    parse_hook_timing_mode("sometimes", "env_cfg.hook_timing");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("env_cfg.hook_timing"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("sometimes"), std::string::npos);
  }
}

TEST(EnvSettings, KeysOverrideDefaultsAndApply) {
  ConfigNode env(nlohmann::json{{"num_threads", 2},
                                {"blas_num_threads", 1},
                                {"hook_timing", "all"},
                                {"malloc_mmap_threshold", -1}},
                 "env_cfg");
  const EnvSettings s = read_env_settings(env);
  EXPECT_EQ(s.num_threads, 2);
  EXPECT_EQ(s.hook_timing, "all");
  EXPECT_EQ(s.malloc_mmap_threshold, -1);
  env.check_unused();
  Dispatcher d;
  const int before = at::get_num_threads();
  apply_env_settings(s, d);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(d.timing_mode(), HookTimingMode::kAll);
  at::set_num_threads(before);

  EXPECT_THROW(read_env_settings(ConfigNode(nlohmann::json{{"num_threads", 0}}, "env_cfg")), Error);
  EXPECT_THROW(read_env_settings(ConfigNode(nlohmann::json{{"hook_timing", "x"}}, "env_cfg")),
               Error);
  EXPECT_THROW(read_env_settings(ConfigNode(nlohmann::json{{"num_threads", "two"}}, "env_cfg")),
               Error);
}

TEST(EnvSettings, RunnerAppliesEnvCfg) {
  TempDir dir;
  nlohmann::json cfg = {{"work_dir", dir.path()},
                        {"model", {{"type", "ToyModel"}}},
                        {"log_level", "ERROR"},
                        {"env_cfg", {{"hook_timing", "off"}, {"num_threads", 1}}}};
  Runner r(cfg);
  EXPECT_EQ(r.dispatcher().timing_mode(), HookTimingMode::kOff);
  EXPECT_EQ(at::get_num_threads(), 1);
  cfg["env_cfg"] = {{"hook_timng", "off"}};
  EXPECT_THROW(Runner bad(cfg), Error);
}

}  // namespace
}  // namespace mmhook
