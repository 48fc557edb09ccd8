// The raw LibTorch loop as a whole process, the baseline of scripts/bench_process.sh: what a
// user writes by hand to train the anchors' MLP or CNN on Fashion-MNIST and validate it each
// epoch, with nothing of the engine but the model classes (same code and initialisation as
// mmhook's) and the idx file reader.
//
//   raw_train --model mlp|cnn [--epochs N] [--iters N] [--work-dir DIR] [--data-root DIR]
//
// Data: both splits read at start, pixels /255 then normalised (0.286, 0.353), in memory as
// float32. Training: seed 42, SGD(lr 0.1, momentum 0.9), batch 64, reshuffled each epoch,
// cross-entropy; after each epoch the state dict is saved to DIR/epoch_<n>.pt (as mmhook's
// CheckpointHook saves one per epoch) and the test split is evaluated (batch 256, eval mode, no
// gradients). --iters N stops after N iterations, then saves and evaluates once, as mmhook's
// iteration-based loop does at its last iteration (start-up cost plus one validation).
// Threads and allocator: LibTorch's and glibc's defaults, so OMP_NUM_THREADS,
// OPENBLAS_NUM_THREADS and MALLOC_* set by the caller apply to this as to mmhook.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "mmhook/config/config_node.h"
#include "mmhook/data/mnist.h"
#include "mmhook/model/base_model.h"
#include "mmhook/model/cnn_classifier.h"
#include "mmhook/model/mlp_classifier.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string model = "mlp";
  int64_t epochs = 3;
  int64_t iters = 0;
  std::string work_dir = "work_dirs/raw_train";
  std::string data_root = mmhook::FashionMNIST::kDefaultRoot;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "raw_train: %s\nusage: raw_train --model mlp|cnn [--epochs N] [--iters N] "
               "[--work-dir DIR] [--data-root DIR]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + k).c_str());
    const std::string v = argv[++i];
    if (k == "--model") {
      a.model = v;
    } else if (k == "--epochs") {
      a.epochs = std::stoll(v);
    } else if (k == "--iters") {
      a.iters = std::stoll(v);
    } else if (k == "--work-dir") {
      a.work_dir = v;
    } else if (k == "--data-root") {
      a.data_root = v;
    } else {
      usage(("unknown option " + k).c_str());
    }
  }
  if (a.model != "mlp" && a.model != "cnn") usage("--model must be mlp or cnn");
  if (a.epochs < 1 || a.iters < 0) usage("--epochs must be >= 1 and --iters >= 0");
  return a;
}

struct Split {
  at::Tensor images;  // float [N,1,28,28], normalised
  at::Tensor labels;  // int64 [N]
};

Split load(const std::string& root, const std::string& split) {
  auto file = [&](const std::string& name) {
    const std::string plain = root + "/" + split + "-" + name;
    return std::filesystem::exists(plain) ? plain : plain + ".gz";
  };
  Split s;
  s.images = mmhook::read_idx_file(file("images-idx3-ubyte"), 0x803)
                 .unsqueeze(1)
                 .to(torch::kFloat32)
                 .div_(255.0)
                 .sub_(0.286)
                 .div_(0.353);
  s.labels = mmhook::read_idx_file(file("labels-idx1-ubyte"), 0x801).to(torch::kInt64);
  return s;
}

std::shared_ptr<mmhook::BaseModel> build_model(const std::string& name) {
  const nlohmann::json cfg = name == "mlp" ? nlohmann::json{{"type", "MLPClassifier"},
                                                            {"in_channels", 784},
                                                            {"hidden_dims", {256, 128}},
                                                            {"num_classes", 10}}
                                           : nlohmann::json{{"type", "CNNClassifier"}};
  return mmhook::model_registry().build(mmhook::ConfigNode(cfg, "model"));
}

at::Tensor logits(mmhook::BaseModel& m, const at::Tensor& x) {
  if (auto* p = dynamic_cast<mmhook::MLPClassifier*>(&m)) return p->forward(x);
  return dynamic_cast<mmhook::CNNClassifier&>(m).forward(x);
}

double accuracy(mmhook::BaseModel& model, const Split& test) {
  const torch::NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0;
  const int64_t n = test.images.size(0);
  for (int64_t b = 0; b < n; b += 256) {
    const int64_t len = std::min<int64_t>(256, n - b);
    const at::Tensor pred = logits(model, test.images.narrow(0, b, len)).argmax(1);
    correct += pred.eq(test.labels.narrow(0, b, len)).sum().item<int64_t>();
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

int run(const Args& a) {
  const auto t0 = Clock::now();
  const Split train = load(a.data_root, "train");
  const Split test = load(a.data_root, "t10k");
  torch::manual_seed(42);
  std::shared_ptr<mmhook::BaseModel> model = build_model(a.model);
  model->train();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  std::filesystem::create_directories(a.work_dir);
  const int64_t n = train.images.size(0);
  int64_t iter = 0;
  for (int64_t epoch = 1; epoch <= a.epochs; ++epoch) {
    const at::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = 0; b < n; b += 64) {
      const at::Tensor idx = perm.slice(0, b, std::min<int64_t>(b + 64, n));
      opt.zero_grad();
      at::Tensor loss = torch::nn::functional::cross_entropy(
          logits(*model, train.images.index_select(0, idx)), train.labels.index_select(0, idx));
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++batches;
      if (++iter == 1)
        std::printf("raw_train: first iteration done %.3f s after start\n",
                    std::chrono::duration<double>(Clock::now() - t0).count());
      if (a.iters > 0 && iter >= a.iters) break;
    }
    torch::save(model->named_parameters().values(),
                a.work_dir + "/epoch_" + std::to_string(epoch) + ".pt");
    std::printf("raw_train: epoch %lld, %lld iterations, mean loss %.4f, test accuracy %.4f\n",
                static_cast<long long>(epoch), static_cast<long long>(iter),
                loss_sum / static_cast<double>(batches), accuracy(*model, test));
    if (a.iters > 0 && iter >= a.iters) break;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raw_train: error: %s\n", e.what());
    return 1;
  }
}
