// ProfilerHook (docs/design.md §B10.2, §B9 check 73): option validation, the before_run limit, one
// export per run, the iter-mode step count, schedule semantics, the Chrome trace and the op table.

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"
#include "mmhook/hooks/profiler_hook.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

// The Error a constructor raises for `o` (fails the test when none is raised).
Error construct_error(const ProfilerHookOptions& o) {
  try {
    ProfilerHook hook(o);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error raised";
  return Error(Code::kOk, "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

TEST(ProfilerHookTest, ProfileTimesBelowOneRaises) {
  ProfilerHookOptions o;
  o.profile_times = 0;
  const Error e = construct_error(o);
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(e.what(), "ProfilerHook.profile_times")) << e.what();
  EXPECT_TRUE(contains(e.what(), "got 0")) << e.what();
}

TEST(ProfilerHookTest, ByEpochWithMoreThanOneTimeRaises) {
  ProfilerHookOptions o;
  o.profile_times = 2;
  const Error e = construct_error(o);
  EXPECT_TRUE(contains(e.what(), "ProfilerHook.profile_times")) << e.what();
  EXPECT_TRUE(contains(e.what(), "by_epoch")) << e.what();
  o.by_epoch = false;
  EXPECT_NO_THROW(ProfilerHook{o});
}

TEST(ProfilerHookTest, EmptyScheduleRaises) {
  ProfilerHookOptions o;
  o.schedule = nlohmann::json::object();
  const Error e = construct_error(o);
  EXPECT_TRUE(contains(e.what(), "ProfilerHook.schedule")) << e.what();
  EXPECT_TRUE(contains(e.what(), "'wait'")) << e.what();
  o.schedule = {{"wait", 1}, {"warmup", 1}, {"active", 0}};
  EXPECT_TRUE(contains(construct_error(o).what(), "active > 0"));
  o.schedule = {{"wait", 1}, {"warmup", 1}, {"active", 2}, {"cycles", 3}};
  EXPECT_TRUE(contains(construct_error(o).what(), "'cycles'"));
  o.schedule = {{"wait", 1}, {"warmup", 1}, {"active", 2}};
  EXPECT_NO_THROW(ProfilerHook{o});
}

TEST(ProfilerHookTest, BadOnTraceReadyRaises) {
  ProfilerHookOptions o;
  o.on_trace_ready = {{"type", "unknown_trace"}};
  Error e = construct_error(o);
  EXPECT_TRUE(contains(e.what(), "ProfilerHook.on_trace_ready")) << e.what();
  EXPECT_TRUE(contains(e.what(), "unknown_trace")) << e.what();
  o.on_trace_ready = 3;  // neither None, a callable nor a dict
  e = construct_error(o);
  EXPECT_TRUE(contains(e.what(), "ProfilerHook.on_trace_ready")) << e.what();
  EXPECT_TRUE(contains(e.what(), "got 3")) << e.what();
  o.on_trace_ready = {{"type", "log_trace"}, {"sort_by", "bogus"}};
  EXPECT_TRUE(contains(construct_error(o).what(), "bogus"));
  o.on_trace_ready = {{"type", "log_trace"}, {"sort_by", "self_cpu_time_total"}, {"row_limit", 5}};
  EXPECT_NO_THROW(ProfilerHook{o});
  o.on_trace_ready = {{"type", "tb_trace"}, {"dir_name", "tb"}};
  EXPECT_NO_THROW(ProfilerHook{o});
}

TEST(ProfilerHookTest, ConfigErrorsCarryThePath) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  try {
    runner.register_hook(nlohmann::json{{"type", "ProfilerHook"}, {"profile_times", 0}});
    FAIL() << "no error raised";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_TRUE(contains(e.what(), "ProfilerHook.profile_times")) << e.what();
  }
  EXPECT_THROW(runner.register_hook(nlohmann::json{{"type", "ProfilerHook"},
                                                   {"schedule", nlohmann::json::object()}}),
               Error);
  EXPECT_THROW(runner.register_hook(nlohmann::json{{"type", "ProfilerHook"}, {"with_flops", 1}}),
               Error);
  EXPECT_NO_THROW(runner.register_hook(nlohmann::json{{"type", "ProfilerHook"},
                                                      {"on_trace_ready", {{"type", "log_trace"}}},
                                                      {"json_trace_path", nullptr}}));
  EXPECT_EQ(runner.find_hook("ProfilerHook")->priority(), 90);  // VERY_LOW
}

TEST(ProfilerHookTest, ProfileTimesAboveMaxItersRaisesInBeforeRun) {
  TempDir dir;
  Runner runner(testing::iter_config(dir.path()));  // max_iters 12
  ProfilerHookOptions o;
  o.by_epoch = false;
  o.profile_times = 13;
  auto hook = std::make_shared<ProfilerHook>(o);
  runner.register_hook(hook);
  try {
    runner.train();
    FAIL() << "no error raised";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "profile_times (13)")) << e.what();
    EXPECT_TRUE(contains(e.what(), "iterations (12)")) << e.what();
  }
  EXPECT_EQ(hook->exports(), 0);
}

TEST(ProfilerHookTest, EpochModeWritesOneChromeTraceAfterTheFirstEpoch) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));  // 2 epochs of 4 iterations
  ProfilerHookOptions o;
  o.record_shapes = true;
  int ready = 0;
  o.on_trace_ready_fn = [&ready](const ProfilerTrace&) { ++ready; };
  auto hook = std::make_shared<ProfilerHook>(o);
  runner.register_hook(hook);
  runner.train();

  EXPECT_TRUE(hook->closed());
  EXPECT_EQ(hook->exports(), 1);   // after_train_epoch exits once; after_run does not again
  EXPECT_EQ(hook->step_num(), 4);  // one step per iteration of the first epoch
  EXPECT_EQ(ready, 1);
  const std::string path = runner.log_dir() + "/profiler_trace.json";
  EXPECT_EQ(hook->trace_path(), path);
  ASSERT_TRUE(fs::exists(path));
  const nlohmann::json trace = read_json(path);
  ASSERT_TRUE(trace.contains("traceEvents"));
  ASSERT_TRUE(trace["traceEvents"].is_array());
  std::set<std::string> names;
  for (const auto& ev : trace["traceEvents"]) {
    if (ev.contains("name") && ev["name"].is_string()) names.insert(ev["name"].get<std::string>());
  }
  EXPECT_GT(trace["traceEvents"].size(), 10u);
  EXPECT_TRUE(names.count("ProfilerStep#0")) << "step ranges are recorded";
  EXPECT_TRUE(names.count("ProfilerStep#3"));
  EXPECT_FALSE(names.count("ProfilerStep#5"));  // the export came after 4 steps (#4 is open then)
  bool has_aten = false;
  for (const auto& n : names) has_aten = has_aten || n.rfind("aten::", 0) == 0;
  EXPECT_TRUE(has_aten);
  // record_shapes fills input shapes.
  bool any_shape = false;
  for (const ProfilerEvent& e : hook->last_trace()->events())
    any_shape = any_shape || !e.shapes.empty();
  EXPECT_TRUE(any_shape);
}

TEST(ProfilerHookTest, IterModeExportsAtProfileTimesMinusOne) {
  TempDir dir;
  Runner runner(testing::iter_config(dir.path()));  // max_iters 12
  ProfilerHookOptions o;
  o.by_epoch = false;
  o.profile_times = 10;
  o.json_trace_path = dir / "traces/iter.json";
  auto hook = std::make_shared<ProfilerHook>(o);
  runner.register_hook(hook);
  runner.train();
  EXPECT_EQ(hook->step_num(), 10);  // at iter 9: one step plus the exit
  EXPECT_EQ(hook->exports(), 1);
  const nlohmann::json trace = read_json(dir / "traces/iter.json");
  std::set<std::string> names;
  for (const auto& ev : trace["traceEvents"]) names.insert(ev.value("name", ""));
  EXPECT_TRUE(names.count("ProfilerStep#9"));
  EXPECT_FALSE(names.count("ProfilerStep#11"));
}

TEST(ProfilerHookTest, ScheduledRunHandsOverEachCycle) {
  TempDir dir;
  Runner runner(testing::iter_config(dir.path()));
  ProfilerHookOptions o;
  o.by_epoch = false;
  o.profile_times = 10;
  o.schedule = {{"wait", 1}, {"warmup", 1}, {"active", 2}};
  std::vector<std::set<std::string>> cycles;
  o.on_trace_ready_fn = [&cycles](const ProfilerTrace& t) {
    std::set<std::string> steps;
    for (const ProfilerEvent& e : t.events())
      if (e.name.rfind("ProfilerStep#", 0) == 0) steps.insert(e.name);
    cycles.push_back(steps);
  };
  auto hook = std::make_shared<ProfilerHook>(o);
  runner.register_hook(hook);
  runner.train();
  // Steps 0..9: N W R RAS | N W R RAS | N W, then step 10 is RECORD and the exit saves it.
  ASSERT_EQ(cycles.size(), 3u);
  EXPECT_EQ(cycles[0], (std::set<std::string>{"ProfilerStep#2", "ProfilerStep#3"}));
  EXPECT_EQ(cycles[1], (std::set<std::string>{"ProfilerStep#6", "ProfilerStep#7"}));
  EXPECT_EQ(cycles[2], (std::set<std::string>{"ProfilerStep#10"}));
}

TEST(ProfilerHookTest, TbTraceWritesIntoLogDir) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.register_hook(nlohmann::json{
      {"type", "ProfilerHook"}, {"on_trace_ready", {{"type", "tb_trace"}, {"dir_name", "tb"}}}});
  runner.train();
  const fs::path tb = fs::path(runner.log_dir()) / "tb";
  ASSERT_TRUE(fs::is_directory(tb));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(tb)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name.size() > 14 && name.substr(name.size() - 14) == ".pt.trace.json") << name;
    EXPECT_TRUE(read_json(entry.path().string()).contains("traceEvents"));
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(ProfilerHookTest, LogTraceLogsTheOpTable) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["log_level"] = "INFO";
  Runner runner(cfg);
  runner.register_hook(
      nlohmann::json{{"type", "ProfilerHook"},
                     {"on_trace_ready",
                      {{"type", "log_trace"}, {"sort_by", "cpu_time_total"}, {"row_limit", 3}}}});
  runner.train();
  std::string log;
  for (const auto& entry : fs::directory_iterator(runner.log_dir())) {
    if (entry.path().extension() != ".log") continue;
    std::ifstream in(entry.path());
    log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_TRUE(contains(log, "profiler is profiling...")) << log;
  EXPECT_TRUE(contains(log, "profiler may take a few minutes...")) << log;
  EXPECT_TRUE(contains(log, "# of Calls")) << log;
  EXPECT_TRUE(contains(log, "Self CPU time total:")) << log;
  // row_limit 3: exactly three rows between the header rule and the closing rule.
  const size_t header = log.find("# of Calls");
  const size_t body = log.find('\n', log.find('\n', header) + 1) + 1;
  const size_t end = log.find("Self CPU time total:", body);
  const std::string rows = log.substr(body, end - body);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 4) << rows;  // 3 rows + closing rule
}

class FailAtSecondIter : public HookImpl<FailAtSecondIter> {
 public:
  void after_train_iter(Runner&, int64_t batch_idx, const TensorDict&, const TensorDict&) override {
    if (batch_idx == 1) throw std::runtime_error("boom");
  }
};

TEST(ProfilerHookTest, FailedRunStillStopsTheProfiler) {
  TempDir dir;
  {
    Runner runner(testing::epoch_config(dir.path()));
    auto hook = std::make_shared<ProfilerHook>();
    runner.register_hook(hook);
    runner.register_hook(std::make_shared<FailAtSecondIter>(), 10);
    EXPECT_THROW(runner.train(), Error);
    EXPECT_TRUE(hook->closed());  // after_run exported what was recorded
    EXPECT_EQ(hook->exports(), 1);
    EXPECT_TRUE(fs::exists(hook->trace_path()));
  }
  // The thread's profiler is free again: a second profiled run starts and exports.
  TempDir dir2;
  Runner runner(testing::epoch_config(dir2.path()));
  auto hook = std::make_shared<ProfilerHook>();
  runner.register_hook(hook);
  runner.train();
  EXPECT_EQ(hook->exports(), 1);
  EXPECT_TRUE(fs::exists(hook->trace_path()));
}

// A synthetic trace: parent [0,100) with children [10,40) and [50,70) on thread 1, plus a
// lone op on thread 2 overlapping in time (other threads never nest).
ProfilerTrace synthetic_trace() {
  std::vector<ProfilerEvent> ev(4);
  ev[0] = {"aten::linear", 0, 100, 0, 1, {}, 0};
  ev[1] = {"aten::mm", 10, 30, 0, 1, {}, 0};
  ev[2] = {"aten::mm", 50, 20, 0, 1, {}, 0};
  ev[3] = {"aten::relu", 20, 5, 0, 2, {}, 0};
  return ProfilerTrace(ev);
}

TEST(ProfilerHookTest, KeyAveragesComputeSelfTimes) {
  const ProfilerTrace t = synthetic_trace();
  const auto rows = t.key_averages("cpu_time_total");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].name, "aten::linear");
  EXPECT_EQ(rows[0].cpu_time_total_us, 100);
  EXPECT_EQ(rows[0].self_cpu_time_total_us, 50);
  EXPECT_EQ(rows[1].name, "aten::mm");
  EXPECT_EQ(rows[1].count, 2);
  EXPECT_EQ(rows[1].cpu_time_total_us, 50);
  EXPECT_EQ(rows[1].self_cpu_time_total_us, 50);
  EXPECT_EQ(rows[2].name, "aten::relu");
  EXPECT_EQ(t.key_averages("count")[0].name, "aten::mm");
  EXPECT_EQ(t.key_averages("cpu_time")[0].name, "aten::linear");
  EXPECT_THROW(t.key_averages("gpu_time"), Error);
}

TEST(ProfilerHookTest, TableListsTopOpsByTotalCpuTime) {
  const std::string table = synthetic_trace().table("cpu_time_total", 2);
  EXPECT_TRUE(contains(table, "Name")) << table;
  EXPECT_TRUE(contains(table, "# of Calls"));
  const size_t linear = table.find("aten::linear"), mm = table.find("aten::mm");
  ASSERT_NE(linear, std::string::npos) << table;
  ASSERT_NE(mm, std::string::npos) << table;
  EXPECT_LT(linear, mm);
  EXPECT_FALSE(contains(table, "aten::relu"));  // row_limit 2
  // Self totals: 50 + 50 + 5 = 105us; linear's total is 100/105 = 95.24%.
  EXPECT_TRUE(contains(table, "Self CPU time total: 105.000us")) << table;
  EXPECT_TRUE(contains(table, "95.24%")) << table;
  EXPECT_TRUE(contains(table, "100.000us"));
  EXPECT_TRUE(contains(table, "25.000us"));  // mm's average
}

TEST(ProfilerHookTest, ExportWritesParsableChromeTrace) {
  TempDir dir;
  synthetic_trace().export_chrome_trace(dir / "sub/t.json");
  const nlohmann::json j = read_json(dir / "sub/t.json");
  ASSERT_EQ(j["traceEvents"].size(), 4u);
  EXPECT_EQ(j["traceEvents"][0]["name"], "aten::linear");
  EXPECT_EQ(j["traceEvents"][0]["ph"], "X");
  EXPECT_EQ(j["traceEvents"][0]["dur"], 100);
}

}  // namespace
}  // namespace mmhook
