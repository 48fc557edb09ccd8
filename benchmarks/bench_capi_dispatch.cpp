// C hook vs C++ hook: ns per stage call through the same dispatcher. The C hook is the
// adapter libmmhook.so builds from an mmh_hook_desc_t (a function pointer + user data), so the
// difference is the cost of the C path (ctx setup and the indirect call).

#include <benchmark/benchmark.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "../capi/src/capi_internal.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/runner.h"

namespace {

using namespace mmhook;

class CountingHook : public HookImpl<CountingHook> {
 public:
  int64_t n = 0;
  void after_train_iter(Runner&, int64_t, const TensorDict&, const TensorDict&) override {
    benchmark::DoNotOptimize(++n);
  }
};

mmh_hook_action_t counting_fn(mmh_hook_ctx_t*, void* user_data) {
  benchmark::DoNotOptimize(++*static_cast<int64_t*>(user_data));
  return MMH_HOOK_CONTINUE;
}

Runner& bench_runner() {
  static std::unique_ptr<Runner> runner = [] {
    const std::string dir = (std::filesystem::temp_directory_path() / "mmhook_bench_capi").string();
    nlohmann::json cfg = {
        {"work_dir", dir}, {"model", {{"type", "ToyModel"}}}, {"log_level", "ERROR"}};
    cfg["default_hooks"] = {{"runtime_info", nullptr},    {"timer", nullptr},
                            {"sampler_seed", nullptr},    {"logger", nullptr},
                            {"param_scheduler", nullptr}, {"checkpoint", nullptr}};
    return std::make_unique<Runner>(cfg);
  }();
  return *runner;
}

void run(benchmark::State& state, Dispatcher& d) {
  TensorDict batch, outputs;
  StageArgs args;
  args.batch_idx = 0;
  args.data_batch = &batch;
  args.outputs = &outputs;
  Runner& runner = bench_runner();
  for (auto _ : state) d.call(Stage::kAfterTrainIter, runner, args);
}

void BM_CppHook(benchmark::State& state) {
  Dispatcher d;
  d.add(std::make_shared<CountingHook>(), 50);
  run(state, d);
}
BENCHMARK(BM_CppHook);

void BM_CHook(benchmark::State& state) {
  static int64_t counter = 0;
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  desc.name = "c_counter";
  desc.stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  desc.fn = counting_fn;
  desc.user_data = &counter;
  Dispatcher d;
  d.add(capi::make_c_hook(desc), 50);
  run(state, d);
}
BENCHMARK(BM_CHook);

}  // namespace

BENCHMARK_MAIN();
