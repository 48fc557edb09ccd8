// Helper process of the distributed tests (tests/dist/test_dist.cpp starts 1 or 2 of them).
//
//   dist_worker <out_dir> key=value...
//
// Trains (or validates) a small MLP on a synthetic dataset, with `--launcher pytorch` when RANK
// is set, and writes <out_dir>/rank<r>.json: the flat parameters and buffers, the collective
// count of the training loop, the validation metrics, or the error and how long the failing
// call took. Keys: work_dir, batch (4), epochs (2), acc (1), bn (0), sync_buffers (0),
// resume (0; 1: resume; 2: "auto"), val (0: train; 1: validate the initial weights), samples (48),
// timeout (30 s), die_rank/die_iter (that rank exits with status 3 after that iteration),
// raise_rank/raise_iter (that rank's hook throws after that iteration), stop_rank/stop_iter
// (that rank calls Runner::request_stop in after_train_iter of that iteration), overlap
// (dist_cfg's; default unset), bucket_cap_mb (unset), find_unused (unset), unused (0; 1: the model
// has a parameter "unused" that never gets a gradient), hidden (16: hidden width), epochs_rank1
// (rank 1's max_epochs, to make the configs differ), work_dir_per_rank (0; 1: work<rank>),
// delay_ms (MMHOOK_DIST_DELAY_MS), round_up (1; 0: the train sampler's round_up false).

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "mmhook/data/dataset.h"
#include "mmhook/dist/dist.h"
#include "mmhook/engine/hook.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/model/base_model.h"
#include "mmhook/model/mlp_classifier.h"

namespace {

// Three classes of 8 features, deterministic per index.
class DistBlobs : public mmhook::Dataset {
 public:
  explicit DistBlobs(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  mmhook::TensorDict get(int64_t index, uint64_t) const override {
    const int64_t cls = index % 3;
    at::Tensor x = torch::empty({8});
    for (int64_t j = 0; j < 8; ++j)
      x[j] = std::sin(0.37 * static_cast<double>(index) + 1.3 * static_cast<double>(j)) +
             (j % 3 == cls ? 1.0 : 0.0);
    mmhook::TensorDict out;
    out.set("inputs", x);
    out.set("targets", torch::scalar_tensor(cls, torch::kInt64));
    return out;
  }

 private:
  int64_t n_;
};

class FaultHook : public mmhook::HookImpl<FaultHook> {
 public:
  FaultHook(int die_rank, int64_t die_iter, int raise_rank, int64_t raise_iter, int stop_rank,
            int64_t stop_iter)
      : die_rank_(die_rank),
        die_iter_(die_iter),
        raise_rank_(raise_rank),
        raise_iter_(raise_iter),
        stop_rank_(stop_rank),
        stop_iter_(stop_iter) {}
  std::string type_name() const override { return "FaultHook"; }
  void after_train_iter(mmhook::Runner& r, int64_t, const mmhook::TensorDict&,
                        const mmhook::TensorDict&) override {
    if (r.rank() == die_rank_ && r.iter() == die_iter_) std::_Exit(3);
    if (r.rank() == raise_rank_ && r.iter() == raise_iter_)
      MMHOOK_THROW(mmhook::Code::kInvalidArgument, "FaultHook raised on purpose at iter ",
                   r.iter());
    if (r.rank() == stop_rank_ && r.iter() == stop_iter_) r.request_stop();
  }

 private:
  int die_rank_;
  int64_t die_iter_;
  int raise_rank_;
  int64_t raise_iter_;
  int stop_rank_;
  int64_t stop_iter_;
};

// MLPClassifier plus a parameter that no forward uses.
class MLPWithUnused : public mmhook::MLPClassifier {
 public:
  explicit MLPWithUnused(mmhook::MLPClassifierOptions o) : mmhook::MLPClassifier(std::move(o)) {
    register_parameter("unused", torch::zeros({3}));
  }
};

std::vector<double> flat_state(torch::nn::Module& m) {
  std::vector<double> out;
  auto add = [&](const at::Tensor& t) {
    at::Tensor c = t.detach().to(torch::kDouble).contiguous().view(-1);
    out.insert(out.end(), c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  for (const auto& p : m.parameters()) add(p);
  for (const auto& b : m.buffers()) add(b);
  return out;
}

}  // namespace

int run_worker(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dist_worker OUT_DIR key=value...\n");
    return 2;
  }
  const std::string out_dir = argv[1];
  std::map<std::string, std::string> kv;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    if (eq != std::string::npos) kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto num = [&](const char* k, double d) { return kv.count(k) ? std::stod(kv[k]) : d; };
  const bool distributed = std::getenv("RANK") != nullptr;
  const int env_rank = distributed ? std::atoi(std::getenv("RANK")) : 0;

  mmhook::dataset_registry().add("DistBlobs", [](const mmhook::ConfigNode& cfg) {
    return std::make_shared<DistBlobs>(cfg.get<int64_t>("num_samples", 48));
  });
  mmhook::model_registry().add("MLPWithUnused", [](const mmhook::ConfigNode& cfg) {
    mmhook::MLPClassifierOptions o;
    o.in_channels = cfg.require<int64_t>("in_channels");
    o.hidden_dims = {cfg.require<int64_t>("hidden")};
    o.num_classes = cfg.require<int64_t>("num_classes");
    cfg.check_unused();
    return std::make_shared<MLPWithUnused>(o);
  });
  if (kv.count("delay_ms")) setenv("MMHOOK_DIST_DELAY_MS", kv["delay_ms"].c_str(), 1);
  const int64_t samples = static_cast<int64_t>(num("samples", 48));
  nlohmann::json loader = {{"batch_size", static_cast<int64_t>(num("batch", 4))},
                           {"num_workers", 0},
                           {"sampler", {{"type", "DefaultSampler"}, {"shuffle", true}}},
                           {"dataset", {{"type", "DistBlobs"}, {"num_samples", samples}}}};
  nlohmann::json cfg = {
      {"work_dir", kv.count("work_dir") ? kv["work_dir"] : out_dir + "/work"},
      {"model",
       {{"type", "MLPClassifier"},
        {"in_channels", 8},
        {"hidden_dims", {static_cast<int64_t>(num("hidden", 16))}},
        {"num_classes", 3},
        {"batch_norm", num("bn", 0) != 0}}},
      {"train_dataloader", loader},
      {"train_cfg", {{"by_epoch", true}, {"max_epochs", static_cast<int64_t>(num("epochs", 2))}}},
      {"optim_wrapper",
       {{"type", "OptimWrapper"},
        {"optimizer", {{"type", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}}},
        {"accumulative_counts", static_cast<int64_t>(num("acc", 1))}}},
      {"randomness", {{"seed", 0}}},
      {"env_cfg", {{"dist_cfg", {{"backend", "gloo"}, {"timeout", num("timeout", 30)}}}}},
      {"default_hooks", {{"checkpoint", {{"type", "CheckpointHook"}, {"interval", 1}}}}},
      {"log_level", "WARNING"},
      {"resume",
       num("resume", 0) == 2 ? nlohmann::json("auto") : nlohmann::json(num("resume", 0) != 0)}};
  if (num("val", 0) != 0) {
    loader["sampler"]["shuffle"] = false;
    cfg["val_dataloader"] = loader;
    cfg["val_cfg"] = nlohmann::json::object();
    cfg["val_evaluator"] = {{"type", "Accuracy"}};
  }
  if (num("round_up", 1) == 0) cfg["train_dataloader"]["sampler"]["round_up"] = false;
  if (num("sync_buffers", 0) != 0)
    cfg["custom_hooks"] = nlohmann::json::array({{{"type", "SyncBuffersHook"}}});
  if (distributed) cfg["launcher"] = "pytorch";
  if (num("unused", 0) != 0)
    cfg["model"] = {{"type", "MLPWithUnused"},
                    {"in_channels", 8},
                    {"hidden", static_cast<int64_t>(num("hidden", 16))},
                    {"num_classes", 3}};
  nlohmann::json& dist_cfg = cfg["env_cfg"]["dist_cfg"];
  if (kv.count("overlap")) dist_cfg["overlap"] = num("overlap", 1) != 0;
  if (kv.count("bucket_cap_mb")) dist_cfg["bucket_cap_mb"] = num("bucket_cap_mb", 25);
  if (kv.count("find_unused")) dist_cfg["find_unused_parameters"] = num("find_unused", 0) != 0;
  if (num("work_dir_per_rank", 0) != 0)
    cfg["work_dir"] = out_dir + "/work" + std::to_string(env_rank);
  if (kv.count("epochs_rank1") && env_rank == 1)
    cfg["train_cfg"]["max_epochs"] = static_cast<int64_t>(num("epochs_rank1", 2));

  nlohmann::json result;
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  try {
    mmhook::Runner runner(cfg);
    runner.register_hook(
        std::make_shared<FaultHook>(
            static_cast<int>(num("die_rank", -1)), static_cast<int64_t>(num("die_iter", -1)),
            static_cast<int>(num("raise_rank", -1)), static_cast<int64_t>(num("raise_iter", -1)),
            static_cast<int>(num("stop_rank", -1)), static_cast<int64_t>(num("stop_iter", -1))),
        50);
    if (num("val", 0) != 0) {
      for (const auto& [k, v] : runner.val()) result["metrics"][k] = v;
    } else {
      runner.train();
      result["comm_calls"] = mmhook::dist::comm_stats().calls;
      result["comm_seconds"] = mmhook::dist::comm_stats().seconds;
      result["iter"] = runner.iter();
      result["votes"] = mmhook::dist::comm_stats().votes;
      result["interrupted"] = runner.train_loop().interrupted();
      result["stop_requested"] = runner.stop_requested();
    }
    result["rank"] = runner.rank();
    result["world_size"] = runner.world_size();
    result["state"] = flat_state(runner.model());
  } catch (const std::exception& e) {
    result["error"] = e.what();
    status = 1;
  }
  result["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ofstream(out_dir + "/rank" + std::to_string(env_rank) + ".json") << result.dump();
  return status;
}

// Errors outside the Runner (a bad key=value number, the result file) end the worker with a
// message and status 3 instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return run_worker(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_worker: %s\n", e.what());
    return 3;
  }
}
