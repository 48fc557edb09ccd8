// Priorities, registration order and get_hooks_info() (docs/design.md §B2, §B9 checks 1–9).

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "mmhook/engine/priority.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

TEST(PriorityTest, GetPriority) {
  EXPECT_EQ(get_priority(10), 10);
  EXPECT_THROW(get_priority(-1), Error);
  EXPECT_THROW(get_priority(101), Error);
  EXPECT_EQ(get_priority(Priority::kHighest), 0);
  EXPECT_EQ(get_priority(std::string_view("LOWEST")), 100);
  EXPECT_EQ(get_priority(std::string_view("Lowest")), 100);
  EXPECT_EQ(get_priority(nlohmann::json("below_normal")), 60);
  EXPECT_THROW(get_priority(nlohmann::json::array({"x"})), Error);
  EXPECT_THROW(get_priority(std::string_view("SOMETIMES")), Error);
  EXPECT_EQ(priority_name(10), "VERY_HIGH");
  EXPECT_EQ(priority_name(55), "55");
}

class ToyHook : public HookImpl<ToyHook> {
 public:
  void after_train(Runner&) override {}
};

class IterHook : public HookImpl<IterHook> {
 public:
  void before_iter(Runner&, int64_t, const TensorDict&, Mode) override {}
};

class PredicateOnlyHook : public HookImpl<PredicateOnlyHook> {};

TEST(HookTest, TriggeredStages) {
  EXPECT_EQ(stage_names(ToyHook().triggered_stages()), std::vector<std::string>{"after_train"});
  EXPECT_EQ(stage_names(IterHook().triggered_stages()),
            (std::vector<std::string>{"before_train_iter", "before_val_iter", "before_test_iter"}));
  EXPECT_TRUE(stage_names(PredicateOnlyHook().triggered_stages()).empty());
}

TEST(HookTest, Predicates) {
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(Hook::every_n_inner_iters(i, 3), (i + 1) % 3 == 0);
  EXPECT_FALSE(Hook::every_n_inner_iters(5, 0));
  EXPECT_TRUE(Hook::end_of_epoch(2, 1));
  EXPECT_FALSE(Hook::end_of_epoch(2, 0));
}

TEST(HookTest, RunnerPredicates) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  // 2 epochs x 4 iterations; check the counters-based predicates at every iteration.
  struct Probe : HookImpl<Probe> {
    std::vector<bool> every3, last_epoch, last_iter;
    void before_train_iter(Runner& r, int64_t, const TensorDict&) override {
      every3.push_back(every_n_train_iters(r, 3));
      last_epoch.push_back(is_last_train_epoch(r));
      last_iter.push_back(is_last_train_iter(r));
    }
    void before_train_epoch(Runner& r) override { epochs.push_back(every_n_epochs(r, 2)); }
    std::vector<bool> epochs;
  };
  Runner runner(cfg);
  auto probe = std::make_shared<Probe>();
  runner.register_hook(probe);
  runner.train();
  EXPECT_EQ(probe->every3,
            (std::vector<bool>{false, false, true, false, false, true, false, false}));
  EXPECT_EQ(probe->last_epoch,
            (std::vector<bool>{false, false, false, false, true, true, true, true}));
  EXPECT_EQ(probe->last_iter,
            (std::vector<bool>{false, false, false, false, false, false, false, true}));
  EXPECT_EQ(probe->epochs, (std::vector<bool>{false, true}));
}

std::vector<std::string> type_names(const Runner& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hooks()) out.push_back(h->type_name());
  return out;
}

TEST(RegisterHookTest, DefaultHooksOrder) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  EXPECT_EQ(type_names(runner),
            (std::vector<std::string>{"RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook",
                                      "LoggerHook", "ParamSchedulerHook", "CheckpointHook"}));
}

TEST(RegisterHookTest, RemoveDefaultHook) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"timer", nullptr}};
  Runner runner(cfg);
  ASSERT_EQ(runner.hooks().size(), 5u);
  EXPECT_EQ(runner.hooks()[4]->type_name(), "CheckpointHook");
}

TEST(RegisterHookTest, StableInsertionAndPrioritySources) {
  // docs/design.md §B9 check 5, on a runner without default hooks.
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["default_hooks"] = {{"runtime_info", nullptr},    {"timer", nullptr},
                          {"sampler_seed", nullptr},    {"logger", nullptr},
                          {"param_scheduler", nullptr}, {"checkpoint", nullptr}};
  Runner runner(cfg);
  EXPECT_TRUE(runner.hooks().empty());
  runner.register_hook(nlohmann::json{{"type", "IterTimerHook"}});
  EXPECT_EQ(runner.hooks()[0]->priority(), 50);
  runner.register_hook(nlohmann::json{{"type", "IterTimerHook"}, {"priority", "BELOW_NORMAL"}});
  EXPECT_EQ(runner.hooks()[1]->priority(), 60);
  runner.register_hook(nlohmann::json{{"type", "RuntimeInfoHook"}});
  EXPECT_EQ(runner.hooks()[0]->type_name(), "RuntimeInfoHook");
  // The argument beats the dict's priority.
  runner.register_hook(nlohmann::json{{"type", "ParamSchedulerHook"}, {"priority", "LOW"}},
                       get_priority(Priority::kVeryLow));
  EXPECT_EQ(runner.hooks()[3]->type_name(), "ParamSchedulerHook");
  EXPECT_EQ(runner.hooks()[3]->priority(), 90);
  // Equal priorities keep registration order: a new NORMAL hook goes after the NORMAL one.
  runner.register_hook(std::make_shared<ToyHook>());
  EXPECT_EQ(runner.hooks()[2]->type_name(), "ToyHook");
  EXPECT_THROW(runner.register_hook(nlohmann::json::array({"string"})), Error);
  EXPECT_THROW(runner.register_hook(std::make_shared<ToyHook>(), 101), Error);
}

TEST(RegisterHookTest, CustomHookLandsAtTheEndWithLowest) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  cfg["custom_hooks"] = {{{"type", "IterTimerHook"}, {"priority", "LOWEST"}}};
  Runner runner(cfg);
  ASSERT_EQ(runner.hooks().size(), 7u);
  EXPECT_EQ(runner.hooks()[6]->priority(), 100);
  EXPECT_EQ(runner.hooks()[6]->name(), "IterTimerHook_1");  // names stay unique
}

TEST(RegisterHookTest, HooksInfoText) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  const std::string info = runner.get_hooks_info();
  auto line = [](const std::string& prio, const std::string& name) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "(%-12s) %-35s", prio.c_str(), name.c_str());
    return std::string(buf);
  };
  const std::string block = "after_train_iter:\n" + line("VERY_HIGH", "RuntimeInfoHook") + "\n" +
                            line("NORMAL", "IterTimerHook") + "\n" +
                            line("BELOW_NORMAL", "LoggerHook") + "\n" +
                            line("LOW", "ParamSchedulerHook") + "\n" +
                            line("VERY_LOW", "CheckpointHook") + "\n -------------------- ";
  EXPECT_NE(info.find(block), std::string::npos) << info;
  // Stage blocks follow Hook.stages order and start with before_run.
  EXPECT_EQ(info.rfind("before_run:\n", 0), 0u) << info;
  EXPECT_LT(info.find("before_train:\n"), info.find("before_train_epoch:\n"));
  // A hook that does not handle a stage is not listed under it.
  const auto after_run = info.substr(info.find("after_run:\n"));
  EXPECT_EQ(after_run.find("IterTimerHook"), std::string::npos);
}

class NamedHook : public HookImpl<NamedHook> {
 public:
  explicit NamedHook(std::vector<std::string>* log, std::string tag)
      : log_(log), tag_(std::move(tag)) {}
  std::string type_name() const override { return tag_; }
  void before_run(Runner&) override { log_->push_back(tag_); }

 private:
  std::vector<std::string>* log_;
  std::string tag_;
};

TEST(RegisterHookTest, AfterBeforeConstraintsAndCycles) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  Runner runner(cfg);
  std::vector<std::string> log;
  auto a = std::make_shared<NamedHook>(&log, "A");
  auto b = std::make_shared<NamedHook>(&log, "B");
  auto c = std::make_shared<NamedHook>(&log, "C");
  b->run_before = {"A"};  // same priority, registered later, but must run before A
  runner.register_hook(a);
  runner.register_hook(b);
  runner.register_hook(c);
  runner.val();
  EXPECT_EQ(log, (std::vector<std::string>{"B", "A", "C"}));
  auto d = std::make_shared<NamedHook>(&log, "D");
  d->run_after = {"A"};
  d->run_before = {"B"};  // B -> A (from B), A -> D -> B: a cycle
  EXPECT_THROW(runner.register_hook(d), Error);
  EXPECT_EQ(runner.find_hook("D"), nullptr);
}

}  // namespace
}  // namespace mmhook

namespace mmhook {
namespace {

TEST(RegisterHookTest, ConfigAfterBeforeKeys) {
  TempDir dir;
  auto cfg = testing::epoch_config(dir.path());
  // A NORMAL custom hook asked to run before IterTimerHook (also NORMAL, registered earlier).
  cfg["custom_hooks"] = {
      {{"type", "ParamSchedulerHook"}, {"priority", "NORMAL"}, {"before", "IterTimerHook"}}};
  Runner runner(cfg);
  std::vector<std::string> names;
  for (const auto& h : runner.hooks()) names.push_back(h->name());
  const auto pos = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  EXPECT_LT(pos("ParamSchedulerHook_1"), pos("IterTimerHook"));

  auto bad = testing::epoch_config(dir / "bad");
  bad["custom_hooks"] = {{{"type", "ParamSchedulerHook"}, {"after", "IterTimerHok"}}};
  try {
    Runner r(bad);
    FAIL() << "an unknown hook name must be rejected";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown hook 'IterTimerHok'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'IterTimerHook'"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace mmhook
