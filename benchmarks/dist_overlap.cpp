// Step time of 2-process data-parallel training on loopback Gloo: gradients all-reduced during
// backward (dist::Reducer, `env_cfg.dist_cfg.overlap: true`) against after it
// (dist::GradientSync, `overlap: false`) and against no communication at all (each rank alone:
// the compute floor), with and without a simulated slow link (MMHOOK_DIST_DELAY_MS).
//
//   dist_overlap [--iters N] [--rounds R] [--delay-ms D] [--layers L] [--width W] [--batch B]
//                [--bucket-cap-mb C]
//
// Defaults: 20 timed iterations after 3 warm-up ones, 3 rounds, delays 0 and 10 ms, 8 layers of
// Linear(1024, 1024)+ReLU (33.6 MB of float gradients), batch 32, 5 MiB buckets (one layer
// each), SGD with momentum, one LibTorch thread per process. Each (delay, round) runs the
// three modes in turn as fresh process pairs (`dist::launch_local` on this program), so load
// from elsewhere hits all alike. Prints a markdown table of medians with min-max.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mmhook/dist/dist.h"
#include "mmhook/dist/grad_sync.h"
#include "mmhook/dist/launcher.h"
#include "mmhook/dist/reducer.h"
#include "mmhook/optim/optim_wrapper.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  int64_t iters = 20;
  int64_t rounds = 3;
  double delay_ms = 10;
  int64_t layers = 8;
  int64_t width = 1024;
  int64_t batch = 32;
  double bucket_cap_mb = 5;
  std::string mode;  // child only: "overlap", "after" or "none"
  std::string out;   // child only: rank 0's result file
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "dist_overlap: %s\nusage: dist_overlap [--iters N] [--rounds R] [--delay-ms D] "
               "[--layers L] [--width W] [--batch B] [--bucket-cap-mb C]\n",
               why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage("missing value after " + k);
    const std::string v = argv[++i];
    try {
      if (k == "--iters")
        a.iters = std::stoll(v);
      else if (k == "--rounds")
        a.rounds = std::stoll(v);
      else if (k == "--delay-ms")
        a.delay_ms = std::stod(v);
      else if (k == "--layers")
        a.layers = std::stoll(v);
      else if (k == "--width")
        a.width = std::stoll(v);
      else if (k == "--batch")
        a.batch = std::stoll(v);
      else if (k == "--bucket-cap-mb")
        a.bucket_cap_mb = std::stod(v);
      else if (k == "--mode")
        a.mode = v;
      else if (k == "--out")
        a.out = v;
      else
        usage("unknown option " + k);
    } catch (const std::logic_error&) {
      usage("not a number after " + k + ": '" + v + "'");
    }
  }
  if (a.iters < 1 || a.rounds < 1 || a.layers < 1 || a.width < 1 || a.batch < 1 || a.delay_ms < 0 ||
      !(a.bucket_cap_mb > 0))
    usage("every count must be >= 1, the delay >= 0 and the bucket cap > 0");
  return a;
}

// One rank: trains the MLP on random data and (rank 0) writes ms per step and the exposed
// communication per step.
int run_child(const Args& a) {
  torch::set_num_threads(1);
  mmhook::dist::init_dist("pytorch");
  torch::manual_seed(0);
  torch::nn::Sequential net;
  for (int64_t l = 0; l < a.layers; ++l) {
    net->push_back(torch::nn::Linear(a.width, a.width));
    net->push_back(torch::nn::ReLU());
  }
  auto sgd = std::make_shared<torch::optim::SGD>(net->parameters(),
                                                 torch::optim::SGDOptions(0.01).momentum(0.9));
  mmhook::OptimWrapper ow(sgd, "SGD");
  mmhook::dist::broadcast_module_states(*net, 0);
  std::shared_ptr<mmhook::dist::Reducer> reducer;
  std::shared_ptr<mmhook::dist::GradientSync> after;
  if (a.mode == "overlap") {
    reducer = std::make_shared<mmhook::dist::Reducer>(
        net->parameters(), std::vector<std::string>{},
        mmhook::dist::ReducerOptions().bucket_cap(a.bucket_cap_mb));
    ow.set_grad_sync(
        mmhook::GradSyncCallbacks{[&](bool sync) { reducer->prepare_for_backward(sync); },
                                  [&](bool) { reducer->finalize_backward(); }});
  } else if (a.mode == "after") {
    after = std::make_shared<mmhook::dist::GradientSync>(
        net->parameters(), static_cast<int64_t>(a.bucket_cap_mb * 1024 * 1024));
    ow.set_grad_sync([&] { after->sync(); });
  } else if (a.mode != "none") {
    usage("--mode must be overlap, after or none");
  }
  const at::Tensor x = torch::randn({a.batch, a.width});
  const at::Tensor target = torch::randn({a.batch, a.width});
  auto step = [&] {
    const at::Tensor loss = torch::mse_loss(net->forward(x), target);
    ow.update_params(loss);
  };
  for (int i = 0; i < 3; ++i) step();
  mmhook::dist::barrier();
  mmhook::dist::reset_comm_stats();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < a.iters; ++i) step();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const mmhook::dist::CommStats st = mmhook::dist::comm_stats();
  mmhook::dist::barrier();
  if (mmhook::dist::get_rank() == 0) {
    const nlohmann::json r = {
        {"ms_per_step", 1000 * seconds / static_cast<double>(a.iters)},
        {"comm_ms_per_step", 1000 * st.seconds / static_cast<double>(a.iters)},
        {"collectives_per_step", st.calls / a.iters}};
    std::ofstream(a.out) << r.dump();
  }
  mmhook::dist::destroy_process_group();
  return 0;
}

struct Figures {
  std::vector<double> step_ms, comm_ms;
  int64_t collectives = 0;
};

std::string median_range(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.1f ms [%.1f-%.1f]", v[v.size() / 2], v.front(), v.back());
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_parent(const Args& a, const std::string& self) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mmhook_dist_overlap_" + std::to_string(static_cast<long>(getpid())));
  std::filesystem::create_directories(dir);
  const std::vector<std::string> modes{"none", "after", "overlap"};
  const std::vector<double> delays{0, a.delay_ms};
  std::map<std::pair<double, std::string>, Figures> figures;
  mmhook::dist::LaunchOptions lo;
  lo.nproc_per_node = 2;
  for (const double delay : delays) {
    setenv("MMHOOK_DIST_DELAY_MS", std::to_string(delay).c_str(), 1);
    for (int64_t round = 0; round < a.rounds; ++round) {
      for (const auto& mode : modes) {
        const std::string out = (dir / (mode + ".json")).string();
        std::filesystem::remove(out);
        const std::vector<std::string> argv{self,
                                            "--mode",
                                            mode,
                                            "--out",
                                            out,
                                            "--iters",
                                            std::to_string(a.iters),
                                            "--layers",
                                            std::to_string(a.layers),
                                            "--width",
                                            std::to_string(a.width),
                                            "--batch",
                                            std::to_string(a.batch),
                                            "--bucket-cap-mb",
                                            std::to_string(a.bucket_cap_mb)};
        if (mmhook::dist::launch_local(argv, lo) != 0) {
          std::fprintf(stderr, "dist_overlap: the %s run failed (delay %g ms)\n", mode.c_str(),
                       delay);
          return 1;
        }
        std::ifstream in(out);
        const nlohmann::json r = nlohmann::json::parse(in);
        Figures& f = figures[{delay, mode}];
        f.step_ms.push_back(r["ms_per_step"].get<double>());
        f.comm_ms.push_back(r["comm_ms_per_step"].get<double>());
        f.collectives = r["collectives_per_step"].get<int64_t>();
      }
    }
  }
  std::filesystem::remove_all(dir);
  const double mb = static_cast<double>(a.layers * (a.width * a.width + a.width)) * 4 / 1e6;
  std::printf(
      "2 processes, Gloo on loopback; %lld x Linear(%lld, %lld) (%.1f MB of gradients), "
      "batch %lld, %.3g MiB buckets; %lld iterations x %lld rounds\n\n",
      static_cast<long long>(a.layers), static_cast<long long>(a.width),
      static_cast<long long>(a.width), mb, static_cast<long long>(a.batch), a.bucket_cap_mb,
      static_cast<long long>(a.iters), static_cast<long long>(a.rounds));
  std::printf(
      "| link delay per collective | no communication | after backward | overlapped | "
      "exposed comm. after / overlapped | overlap saves |\n|---|---|---|---|---|---|\n");
  for (const double delay : delays) {
    const Figures& none = figures[{delay, "none"}];
    const Figures& aft = figures[{delay, "after"}];
    const Figures& ovl = figures[{delay, "overlap"}];
    std::printf("| %g ms | %s | %s | %s | %.1f / %.1f ms (%lld collectives) | %.0f%% |\n", delay,
                median_range(none.step_ms).c_str(), median_range(aft.step_ms).c_str(),
                median_range(ovl.step_ms).c_str(), median(aft.comm_ms), median(ovl.comm_ms),
                static_cast<long long>(ovl.collectives),
                100 * (1 - median(ovl.step_ms) / median(aft.step_ms)));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    if (std::getenv("RANK") != nullptr) return run_child(a);
    return run_parent(a, std::filesystem::canonical("/proc/self/exe").string());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_overlap: %s\n", e.what());
    return 1;
  }
}
