#include "runner_fixture.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <ostream>

#include <torch/types.h>

#include "mmhook/model/base_model.h"

namespace fs = std::filesystem;

namespace mmhook::testing {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = (fs::temp_directory_path() /
           ("mmhook_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
              .string();
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
nlohmann::json toy_loader(bool infinite) {
  return {
      {"batch_size", 3},
      {"num_workers", 0},
      {"sampler", {{"type", infinite ? "InfiniteSampler" : "DefaultSampler"}, {"shuffle", false}}},
      {"dataset", {{"type", "ToyDataset"}}}};
}
}  // namespace

nlohmann::json epoch_config(const std::string& work_dir) {
  return {
      {"work_dir", work_dir},
      {"model", {{"type", "ToyModel"}}},
      {"train_dataloader", toy_loader(false)},
      {"val_dataloader", toy_loader(false)},
      {"test_dataloader", toy_loader(false)},
      {"val_evaluator", {{"type", "ToyMetric"}}},
      {"test_evaluator", {{"type", "ToyMetric"}}},
      {"train_cfg", {{"by_epoch", true}, {"max_epochs", 2}, {"val_interval", 1}}},
      {"val_cfg", nlohmann::json::object()},
      {"test_cfg", nlohmann::json::object()},
      {"optim_wrapper", {{"type", "OptimWrapper"}, {"optimizer", {{"type", "SGD"}, {"lr", 0.1}}}}},
      {"randomness", {{"seed", 0}}},
      {"log_level", "WARNING"},
  };
}

nlohmann::json iter_config(const std::string& work_dir) {
  nlohmann::json cfg = epoch_config(work_dir);
  cfg["train_dataloader"] = toy_loader(true);
  cfg["train_cfg"] = {{"by_epoch", false}, {"max_iters", 12}, {"val_interval", 4}};
  cfg["log_processor"] = {{"by_epoch", false}};
  cfg["default_hooks"] = {
      {"checkpoint", {{"type", "CheckpointHook"}, {"interval", 12}, {"by_epoch", false}}},
      {"logger", {{"type", "LoggerHook"}, {"log_metric_by_epoch", false}}}};
  return cfg;
}

std::ostream& operator<<(std::ostream& os, const StageCall& c) {
  return os << c.stage << "(epoch=" << c.epoch << ", iter=" << c.iter
            << ", batch_idx=" << c.batch_idx << ")";
}

std::vector<StageCall> RecordingHook::of(const std::string& stage) const {
  std::vector<StageCall> out;
  for (const auto& c : calls)
    if (c.stage == stage) out.push_back(c);
  return out;
}

std::vector<std::string> RecordingHook::names() const {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(c.stage);
  return out;
}

void RecordingHook::add(Runner& r, const char* stage, int64_t batch_idx) {
  calls.push_back(StageCall{stage, r.epoch(), r.iter(), batch_idx});
}

std::vector<float> flat_params(Runner& runner) {
  std::vector<float> out;
  for (const auto& p : runner.model().parameters()) {
    auto t = p.detach().to(torch::kFloat).contiguous().view(-1);
    out.insert(out.end(), t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  return out;
}

}  // namespace mmhook::testing
