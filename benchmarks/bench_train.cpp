// Training-loop overhead: the raw LibTorch loop against the mmhook Runner (default hooks, logger
// every 50), same data in memory, same model code and initialisation, SGD(0.1, momentum 0.9),
// batch 64, shuffled, one epoch of Fashion-MNIST (938 iterations) per run. Runs alternate in this
// process (raw, mmhook, raw, mmhook, ...) so that load from other processes hits both alike.
//
// Per-iteration time (as the anchors define it): from the end of the previous iteration to after
// optimizer.step() and reading the loss, batch fetching included; the first iteration of each
// epoch is left out of the mean. For mmhook it is IterTimerHook's `train/time` history.
//
//   bench_train [--models trivial,mlp,cnn] [--rounds 3] [--out results.md] [--checkpoint]
//
// Also printed: the epoch-time ratio (the Runner's epoch includes its checkpoint save), the
// data_time share of time, the default hook set's cost per iteration (dispatcher timings, every
// call timed in a separate run), operator-new calls per iteration (raw vs mmhook), and with
// --checkpoint the CNN checkpoint save time against a plain write+fsync of the same bytes.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/mnist.h"
#include "mmhook/data/transforms.h"
#include "mmhook/config/config_node.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/env_setup.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/model/base_model.h"
#include "mmhook/model/cnn_classifier.h"
#include "mmhook/model/mlp_classifier.h"
#include "mmhook/model/trivial_classifier.h"

// The replacements below pair malloc/free correctly; GCC 12 cannot see that once inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// -- operator new counting (every allocation through operator new in this process) ----------
namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace mmhook;
using Clock = std::chrono::steady_clock;

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// BENCH_ENV_CFG: JSON object merged into the Runner's env_cfg and applied to the raw loop too,
// e.g. '{"num_threads": 2}' or '{"malloc_mmap_threshold": -1, "malloc_trim_threshold": -1}'.
nlohmann::json bench_env_cfg() {
  const char* v = std::getenv("BENCH_ENV_CFG");
  return v != nullptr && *v != '\0' ? nlohmann::json::parse(v) : nlohmann::json::object();
}

// Iterations per run (--iters); 0: one full epoch.
int64_t g_iters = 0;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Model {
  std::string name;  // trivial / mlp / cnn
  nlohmann::json cfg;
};

nlohmann::json model_cfg(const std::string& name) {
  if (name == "trivial") return {{"type", "TrivialClassifier"}};
  if (name == "mlp")
    return {{"type", "MLPClassifier"},
            {"in_channels", 784},
            {"hidden_dims", {256, 128}},
            {"num_classes", 10}};
  if (name == "cnn") return {{"type", "CNNClassifier"}};
  std::cerr << "unknown model '" << name << "' (expected trivial, mlp, cnn)\n";
  std::exit(2);
}

// The anchors' data: pixels /255, normalised, the whole set in memory.
struct Data {
  at::Tensor images;  // float [N,1,28,28]
  at::Tensor labels;  // int64 [N]
};

Data load_data() {
  MNISTOptions o;
  o.cache_transformed = false;  // the raw loop makes its own float copy from the uint8 images
  FashionMNIST ds(o);
  Data d;
  d.images = ds.raw_images().to(torch::kFloat32).div_(255.0).sub_(0.286).div_(0.353);
  d.labels = ds.raw_labels();
  return d;
}

at::Tensor forward(BaseModel& m, const at::Tensor& x) {
  if (auto* p = dynamic_cast<TrivialClassifier*>(&m)) return p->forward(x);
  if (auto* p = dynamic_cast<MLPClassifier*>(&m)) return p->forward(x);
  if (auto* p = dynamic_cast<CNNClassifier*>(&m)) return p->forward(x);
  std::abort();
}

struct Run {
  std::vector<double> iter_s;  // per iteration
  double data_s = 0;           // sum of data_time
  double epoch_s = 0;
  double news_per_iter = 0;
  double faults_per_iter = 0;
};

double mean_skip_first(const std::vector<double>& v) {
  if (v.size() < 2) return v.empty() ? 0.0 : v[0];
  double s = 0;
  for (size_t i = 1; i < v.size(); ++i) s += v[i];
  return s / static_cast<double>(v.size() - 1);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// One epoch of the plain loop.
Run run_raw(const Model& m, const Data& data, int64_t seed) {
  torch::manual_seed(static_cast<uint64_t>(seed));
  std::shared_ptr<BaseModel> model = model_registry().build(ConfigNode(m.cfg, "model"));
  model->train();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  const int64_t n = data.images.size(0);
  const int64_t bs = 64;
  Run r;
  const auto t_epoch = Clock::now();
  const at::Tensor perm = torch::randperm(n, torch::kInt64);
  auto t = Clock::now();
  const uint64_t news0 = g_news.load();
  const long faults0 = minor_faults();
  float sink = 0;
  const int64_t end = g_iters > 0 ? std::min(n, g_iters * bs) : n;
  for (int64_t b = 0; b < end; b += bs) {
    const at::Tensor idx = perm.slice(0, b, std::min(b + bs, n));
    const at::Tensor x = data.images.index_select(0, idx);
    const at::Tensor y = data.labels.index_select(0, idx);
    r.data_s += seconds_since(t);
    opt.zero_grad();
    at::Tensor loss = torch::nn::functional::cross_entropy(forward(*model, x), y);
    loss.backward();
    opt.step();
    sink += loss.item<float>();
    const auto now = Clock::now();
    r.iter_s.push_back(std::chrono::duration<double>(now - t).count());
    t = now;
  }
  r.news_per_iter =
      static_cast<double>(g_news.load() - news0) / static_cast<double>(r.iter_s.size());
  r.faults_per_iter =
      static_cast<double>(minor_faults() - faults0) / static_cast<double>(r.iter_s.size());
  r.epoch_s = seconds_since(t_epoch);
  if (!(sink == sink)) std::cerr << "loss is NaN\n";
  return r;
}

// Epoch clock: before_train_epoch first, after_train_epoch last (checkpoint save included).
class EpochStart : public HookImpl<EpochStart> {
 public:
  Clock::time_point* t = nullptr;
  uint64_t* news = nullptr;
  long* faults = nullptr;
  void before_train_epoch(Runner&) override {
    *news = g_news.load();
    *faults = minor_faults();
    *t = Clock::now();
  }
};
class EpochEnd : public HookImpl<EpochEnd> {
 public:
  Clock::time_point* t = nullptr;
  double* epoch_s = nullptr;
  void after_train_epoch(Runner&) override { *epoch_s = seconds_since(*t); }
};

nlohmann::json runner_cfg(const Model& m, const std::string& work_dir, int64_t seed) {
  nlohmann::json transforms =
      nlohmann::json::array({{{"type", "Normalize"}, {"mean", 0.286}, {"std", 0.353}}});
  nlohmann::json cfg = {
      {"work_dir", work_dir},
      {"model", m.cfg},
      {"train_dataloader",
       {{"batch_size", 64},
        {"num_workers", 1},
        {"sampler", {{"type", "DefaultSampler"}, {"shuffle", true}}},
        {"dataset", {{"type", "FashionMNIST"}, {"transforms", transforms}}}}},
      {"train_cfg", {{"by_epoch", true}, {"max_epochs", 1}}},
      {"env_cfg", bench_env_cfg()},
      {"optim_wrapper",
       {{"type", "OptimWrapper"},
        {"optimizer", {{"type", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}}}}},
      {"default_hooks", {{"logger", {{"type", "LoggerHook"}, {"interval", 50}}}}},
      {"randomness", {{"seed", seed}}},
  };
  if (const char* w = std::getenv("BENCH_NUM_WORKERS"))
    cfg["train_dataloader"]["num_workers"] = std::atoi(w);
  if (g_iters > 0) cfg["train_cfg"] = {{"by_epoch", false}, {"max_iters", g_iters}};
  return cfg;
}

struct MmhookRun : Run {
  double hooks_us_per_iter = 0;  // before_train_iter + after_train_iter, all hooks
  std::vector<HookTiming> timings;
};

MmhookRun run_mmhook(const Model& m, const std::string& work_dir, int64_t seed,
                     bool time_all_hooks) {
  std::filesystem::remove_all(work_dir);
  Runner runner(runner_cfg(m, work_dir, seed));
  if (time_all_hooks) runner.dispatcher().set_timing(HookTimingMode::kAll);
  MmhookRun r;
  Clock::time_point t0;
  uint64_t news0 = 0;
  long faults0 = 0;
  auto start = std::make_shared<EpochStart>();
  start->t = &t0;
  start->news = &news0;
  start->faults = &faults0;
  auto end = std::make_shared<EpochEnd>();
  end->t = &t0;
  end->epoch_s = &r.epoch_s;
  runner.register_hook(std::static_pointer_cast<Hook>(start), 0);
  runner.register_hook(std::static_pointer_cast<Hook>(end), 100);
  runner.train();
  const HistoryBuffer& time = runner.message_hub().get_scalar("train/time");
  const HistoryBuffer& data_time = runner.message_hub().get_scalar("train/data_time");
  r.iter_s.assign(time.values_data(), time.values_data() + time.size());
  for (size_t i = 0; i < data_time.size(); ++i) r.data_s += data_time.values_data()[i];
  const uint64_t news = g_news.load() - news0;
  r.news_per_iter = static_cast<double>(news) / static_cast<double>(r.iter_s.size());
  r.faults_per_iter =
      static_cast<double>(minor_faults() - faults0) / static_cast<double>(r.iter_s.size());
  r.timings = runner.dispatcher().timings();
  // Each (hook, stage)'s longest call is left out: on a loaded machine one preemption inside a
  // hook (tens of ms) would otherwise dominate the mean.
  double hook_ms = 0;
  for (const auto& t : r.timings)
    if ((t.stage == "before_train_iter" || t.stage == "after_train_iter") && t.calls > 1)
      hook_ms +=
          (t.total_ms - t.max_ms) * static_cast<double>(t.calls) / static_cast<double>(t.calls - 1);
  r.hooks_us_per_iter = hook_ms * 1000.0 / static_cast<double>(r.iter_s.size());
  return r;
}

// CNN checkpoint: Runner::save_checkpoint vs write+fsync of the same bytes.
void bench_checkpoint(const Data&, std::ostream& out, int rounds) {
  const std::string dir = (std::filesystem::temp_directory_path() / "mmhook_bench_ckpt").string();
  std::filesystem::remove_all(dir);
  Model m{"cnn", model_cfg("cnn")};
  // Two iterations, so the optimizer state (momentum buffers) is in the checkpoint too.
  nlohmann::json cfg = runner_cfg(m, dir, 0);
  cfg["train_cfg"] = {{"by_epoch", false}, {"max_iters", 2}};
  cfg["default_hooks"]["checkpoint"] = nullptr;
  Runner runner(cfg);
  runner.train();
  std::vector<double> save_s, plain_s;
  size_t bytes = 0;
  for (int i = 0; i < rounds; ++i) {
    auto t = Clock::now();
    runner.save_checkpoint(dir, "bench.pth");
    save_s.push_back(seconds_since(t));
    std::ifstream in(dir + "/bench.pth", std::ios::binary);
    std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes = buf.size();
    t = Clock::now();
    const std::string path = dir + "/plain.bin";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t off = 0;
    while (fd >= 0 && off < buf.size()) {
      const ssize_t w = ::write(fd, buf.data() + off, buf.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    plain_s.push_back(seconds_since(t));
  }
  const double s = median(save_s), p = median(plain_s);
  char line[256];
  std::snprintf(line, sizeof(line),
                "\n| CNN checkpoint (%.2f MB) | save_checkpoint %.2f ms | write+fsync %.2f ms | "
                "ratio %.2f |\n",
                static_cast<double>(bytes) / 1e6, s * 1e3, p * 1e3, s / p);
  out << "| checkpoint | mmhook save | plain write+fsync | ratio |\n|---|---|---|---|" << line;

  // The content checksum alone, in the format written and in 0.1's byte-wise FNV-1a, over a
  // 64 MiB state (what a save and a load each compute once).
  auto big = make_generic_dict();
  big.insert("w", at::rand({16 << 20}));
  const c10::IValue dict(big);
  out << "\n| checksum of 64 MiB | ms (median of " << rounds << ") | GB/s |\n|---|---|---|\n";
  for (const auto format : {ChecksumFormat::kMmh64, ChecksumFormat::kFnv1a64}) {
    std::vector<double> took;
    for (int i = 0; i < rounds; ++i) {
      const auto t = Clock::now();
      (void)checkpoint_checksum(dict, format);
      took.push_back(seconds_since(t));
    }
    const double m = median(took);
    std::snprintf(line, sizeof(line), "| %s | %.1f | %.2f |\n",
                  format == ChecksumFormat::kMmh64 ? "mmh64 (written)" : "FNV-1a (0.1's, verified)",
                  m * 1e3, static_cast<double>(64 << 20) / m / 1e9);
    out << line;
  }
}

}  // namespace

int run_benchmarks(int argc, char** argv) {
  std::vector<std::string> models = {"trivial", "mlp", "cnn"};
  int rounds = 3;
  std::string out_path;
  bool checkpoint = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--models" && i + 1 < argc) {
      models.clear();
      std::stringstream ss(argv[++i]);
      for (std::string s; std::getline(ss, s, ',');) models.push_back(s);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--out" && i + 1 < argc) {
      out_path = argv[++i];
    } else if (a == "--iters" && i + 1 < argc) {
      g_iters = std::atoll(argv[++i]);
    } else if (a == "--checkpoint") {
      checkpoint = true;
    } else {
      std::cerr << "usage: bench_train [--models trivial,mlp,cnn] [--rounds N] [--iters N] "
                   "[--out FILE] [--checkpoint]\n";
      return 2;
    }
  }
  // The Runner applies env_cfg (threads, allocator) when built; apply the same to the raw loop.
  {
    Dispatcher unused;
    apply_env_settings(read_env_settings(ConfigNode(bench_env_cfg(), "env_cfg")), unused);
  }
  const Data data = load_data();
  const std::string work = (std::filesystem::temp_directory_path() / "mmhook_bench_train").string();

  std::ostringstream table;
  const char* workers = std::getenv("BENCH_NUM_WORKERS");
  table << "intra-op threads " << at::get_num_threads() << ", env_cfg " << bench_env_cfg().dump()
        << ", loader workers " << (workers ? workers : "1") << ", "
        << (g_iters > 0 ? std::to_string(g_iters) + " iterations" : std::string("1 epoch"))
        << " per run, " << rounds
        << " rounds alternating raw/mmhook in one process; medians over rounds\n\n"
        << "| model | raw LibTorch ms/iter | mmhook ms/iter | ratio mmhook/raw | epoch ratio | "
           "raw data % | mmhook data_time % | default hooks µs/iter | new/iter raw | "
           "new/iter mmhook | minflt/iter raw | minflt/iter mmhook |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::ostringstream hooks_table;
  for (const std::string& name : models) {
    Model m{name, model_cfg(name)};
    std::vector<double> raw_ms, mm_ms, ratio, epoch_ratio, data_pct, raw_data_pct, raw_news,
        mm_news, raw_flt, mm_flt;
    for (int r = 0; r < rounds; ++r) {
      const Run raw = run_raw(m, data, 42 + r);
      const MmhookRun mm = run_mmhook(m, work + "/" + name, 42 + r, false);
      const double a = mean_skip_first(raw.iter_s) * 1e3, b = mean_skip_first(mm.iter_s) * 1e3;
      double tot = 0;
      for (double v : mm.iter_s) tot += v;
      raw_ms.push_back(a);
      mm_ms.push_back(b);
      ratio.push_back(b / a);
      epoch_ratio.push_back(mm.epoch_s / raw.epoch_s);
      data_pct.push_back(100.0 * mm.data_s / tot);
      double raw_tot = 0;
      for (double v : raw.iter_s) raw_tot += v;
      raw_data_pct.push_back(100.0 * raw.data_s / raw_tot);
      raw_news.push_back(raw.news_per_iter);
      mm_news.push_back(mm.news_per_iter);
      raw_flt.push_back(raw.faults_per_iter);
      mm_flt.push_back(mm.faults_per_iter);
      std::cerr << name << " round " << r << ": raw " << a << " ms, mmhook " << b << " ms, ratio "
                << b / a << ", epoch " << raw.epoch_s << " s vs " << mm.epoch_s << " s\n";
    }
    // Default hook set cost: a separate run with every hook call timed.
    // (300 iterations unless --iters says otherwise.)
    const int64_t saved_iters = g_iters;
    g_iters = g_iters > 0 ? g_iters : 300;
    const MmhookRun timed = run_mmhook(m, work + "/" + name + "_timed", 7, true);
    g_iters = saved_iters;
    char line[512];
    std::snprintf(
        line, sizeof(line),
        "| %s | %.4f | %.4f | %.3f | %.3f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f |\n",
        name.c_str(), median(raw_ms), median(mm_ms), median(ratio), median(epoch_ratio),
        median(raw_data_pct), median(data_pct), timed.hooks_us_per_iter, median(raw_news),
        median(mm_news), median(raw_flt), median(mm_flt));
    table << line;
    hooks_table << "\n"
                << name
                << ": per-iteration hook cost (every call timed), µs per call without the "
                   "longest call (longest in brackets)\n";
    for (const auto& t : timed.timings) {
      if (t.stage != "before_train_iter" && t.stage != "after_train_iter") continue;
      std::snprintf(line, sizeof(line), "  %-24s %-18s %8.3f (max %.3f)\n", t.hook.c_str(),
                    t.stage.c_str(),
                    t.calls > 1 ? (t.total_ms - t.max_ms) * 1e3 / static_cast<double>(t.calls - 1)
                                : t.total_ms * 1e3,
                    t.max_ms * 1e3);
      hooks_table << line;
    }
  }
  if (checkpoint) bench_checkpoint(data, table, std::max(rounds, 3));
  const std::string result = table.str() + hooks_table.str();
  std::cerr << "\n" << result;
  if (!out_path.empty()) std::ofstream(out_path) << result;
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run_benchmarks(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_train: " << e.what() << "\n";
    return 1;
  }
}
