// Dispatch cost: ns per stage call with 0, 1, 10 and 100 registered hooks of which at most one
// handles the stage, under each hook timing mode. Targets (issue 7): hooks that do not handle a
// stage cost nothing; a handling C++ hook < 5 ns per call with the default (sampled) timing; no
// heap allocation per call (counted by the operator new below: `allocs_per_call`).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include <nlohmann/json.hpp>

#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/runner.h"

// The replacements below pair malloc/free correctly; GCC 12 cannot see that once inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace mmhook;

class CountingHook : public HookImpl<CountingHook> {
 public:
  int64_t n = 0;
  void after_train_iter(Runner&, int64_t, const TensorDict&, const TensorDict&) override {
    benchmark::DoNotOptimize(++n);
  }
};

class OtherStageHook : public HookImpl<OtherStageHook> {
 public:
  void before_run(Runner&) override {}
};

Runner& bench_runner() {
  static std::unique_ptr<Runner> runner = [] {
    const std::string dir =
        (std::filesystem::temp_directory_path() / "mmhook_bench_dispatch").string();
    nlohmann::json cfg = {
        {"work_dir", dir}, {"model", {{"type", "ToyModel"}}}, {"log_level", "ERROR"}};
    cfg["default_hooks"] = {{"runtime_info", nullptr},    {"timer", nullptr},
                            {"sampler_seed", nullptr},    {"logger", nullptr},
                            {"param_scheduler", nullptr}, {"checkpoint", nullptr}};
    return std::make_unique<Runner>(cfg);
  }();
  return *runner;
}

// range(0): hooks registered; range(1): how many of them handle after_train_iter (spread
// evenly); the others handle only before_run; range(2): HookTimingMode (0 off, 1 sampled,
// 2 all). Time is per stage call (all hooks).
void BM_Dispatch(benchmark::State& state) {
  Runner& runner = bench_runner();
  Dispatcher d;
  d.set_timing(static_cast<HookTimingMode>(state.range(2)));
  const int64_t hooks = state.range(0);
  const int64_t handling = state.range(1);
  for (int64_t i = 0; i < hooks; ++i) {
    if (handling > 0 && i % (hooks / handling) == 0 && i / (hooks / handling) < handling) {
      d.add(std::make_shared<CountingHook>(), 50);
    } else {
      d.add(std::make_shared<OtherStageHook>(), 50);
    }
  }
  TensorDict batch, outputs;
  StageArgs args;
  args.batch_idx = 0;
  args.data_batch = &batch;
  args.outputs = &outputs;
  d.call(Stage::kAfterTrainIter, runner, args);  // warm
  const uint64_t news0 = g_news.load();
  for (auto _ : state) d.call(Stage::kAfterTrainIter, runner, args);
  state.counters["allocs_per_call"] =
      static_cast<double>(g_news.load() - news0) / static_cast<double>(state.iterations());
  state.SetLabel(std::to_string(handling) + " of " + std::to_string(hooks) + " handle, timing " +
                 hook_timing_mode_name(d.timing_mode()));
}
BENCHMARK(BM_Dispatch)
    ->ArgsProduct({{0}, {0}, {1}})
    ->Args({100, 0, 1})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({1, 1, 2})
    ->Args({10, 1, 1})
    ->Args({100, 1, 1})
    ->Args({10, 10, 0})
    ->Args({10, 10, 1})
    ->Args({10, 10, 2});

}  // namespace

BENCHMARK_MAIN();
