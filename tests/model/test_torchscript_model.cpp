// TorchScriptModel: a module saved by Python's torch.jit.save trains, checkpoints and resumes
// like any other model, and its checkpoints load back in Python.

#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/error.h"
#include "mmhook/data/dataset.h"
#include "mmhook/model/torchscript_model.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

const std::string kFixture = std::string(MMHOOK_SOURCE_DIR) + "/tests/fixtures/scripted_cnn.pt";

// 60 images [1,28,28]: noise plus a bright 6x6 patch whose position encodes the class (0..9).
class PatchImages : public Dataset {
 public:
  int64_t size() const override { return 60; }
  TensorDict get(int64_t index, uint64_t) const override {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(index) + 1);
    at::Tensor img = at::rand({1, 28, 28}, gen) * 0.3;
    const int64_t cls = index % 10;
    const int64_t r = (cls / 5) * 14 + 4, c = (cls % 5) * 5 + 1;
    img.index_put_({0, torch::indexing::Slice(r, r + 6), torch::indexing::Slice(c, c + 4)}, 1.0);
    TensorDict d;
    d.set("inputs", img);
    d.set("targets", torch::tensor(cls, torch::kLong));
    return d;
  }
};

nlohmann::json script_config(const std::string& work_dir, int64_t max_epochs) {
  static bool registered = [] {
    dataset_registry().add("PatchImages", [](const ConfigNode&) -> std::shared_ptr<Dataset> {
      return std::make_shared<PatchImages>();
    });
    return true;
  }();
  (void)registered;
  nlohmann::json cfg = testing::epoch_config(work_dir);
  cfg["model"] = {{"type", "TorchScriptModel"}, {"path", kFixture}};
  const nlohmann::json loader = {{"batch_size", 6},
                                 {"num_workers", 0},
                                 {"sampler", {{"type", "DefaultSampler"}, {"shuffle", true}}},
                                 {"dataset", {{"type", "PatchImages"}}}};
  cfg["train_dataloader"] = loader;
  cfg.erase("val_dataloader");
  cfg.erase("val_cfg");
  cfg.erase("val_evaluator");
  cfg.erase("test_dataloader");
  cfg.erase("test_cfg");
  cfg.erase("test_evaluator");
  cfg["train_cfg"] = {{"by_epoch", true}, {"max_epochs", max_epochs}};
  cfg["optim_wrapper"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}};
  return cfg;
}

// name -> tensor copy of every parameter and buffer.
std::map<std::string, at::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& e : state_dict_entries(m)) out[e.name] = e.value.detach().clone();
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TorchScriptModelTest, StateDictHasThePythonModulesNamesInOrder) {
  TorchScriptModel model({kFixture});
  std::vector<std::string> names;
  for (const auto& e : state_dict_entries(model)) names.push_back(e.name);
  const std::vector<std::string> expected = {"conv.weight",
                                             "conv.bias",
                                             "bn.weight",
                                             "bn.bias",
                                             "bn.running_mean",
                                             "bn.running_var",
                                             "bn.num_batches_tracked",
                                             "head.1.weight",
                                             "head.1.bias"};
  EXPECT_EQ(names, expected);
  size_t trainable = 0;
  for (const auto& p : model.parameters()) trainable += p.requires_grad() ? 1 : 0;
  EXPECT_EQ(trainable, 6u);
  at::Tensor logits = model.forward(torch::zeros({3, 1, 28, 28}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10}));
}

TEST(TorchScriptModelTest, TrainAndEvalReachTheScriptedModule) {
  TorchScriptModel model({kFixture});
  const at::Tensor x = torch::rand({4, 1, 28, 28});
  const at::Tensor before = snapshot(model).at("bn.running_mean");
  model.eval();
  EXPECT_FALSE(model.is_training());
  at::Tensor a = model.forward(x);
  EXPECT_TRUE(torch::equal(snapshot(model).at("bn.running_mean"), before));  // eval: no update
  model.train();
  (void)model.forward(x);
  // Train mode updates the running statistics in place, and this model sees it.
  EXPECT_FALSE(torch::equal(snapshot(model).at("bn.running_mean"), before));
  EXPECT_EQ(snapshot(model).at("bn.num_batches_tracked").item<int64_t>(), 1);
}

TEST(TorchScriptModelTest, TrainingReducesTheLoss) {
  struct LossRecorder : HookImpl<LossRecorder> {
    std::vector<std::vector<double>> per_epoch;
    void before_train_epoch(Runner&) override { per_epoch.emplace_back(); }
    void after_train_iter(Runner&, int64_t, const TensorDict&, const TensorDict& out) override {
      per_epoch.back().push_back(out.at("loss").item<double>());
    }
  };
  TempDir dir;
  Runner runner(script_config(dir.path(), 6));
  auto rec = std::make_shared<LossRecorder>();
  runner.register_hook(rec);
  const auto initial = snapshot(runner.model());
  runner.train();
  ASSERT_EQ(rec->per_epoch.size(), 6u);
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  const double first = mean(rec->per_epoch.front()), last = mean(rec->per_epoch.back());
  EXPECT_LT(last, 0.5 * first) << "first epoch " << first << ", last epoch " << last;
  // The optimizer moved the scripted module's own weights.
  EXPECT_FALSE(torch::equal(snapshot(runner.model()).at("conv.weight"), initial.at("conv.weight")));
  EXPECT_TRUE(fs::exists(dir / "epoch_6.pth"));
}

TEST(TorchScriptModelTest, ResumeIsBitExact) {
  TempDir dir;
  std::map<std::string, at::Tensor> straight, resumed;
  {
    Runner runner(script_config(dir / "straight", 3));
    runner.train();
    straight = snapshot(runner.model());
  }
  {
    Runner runner(script_config(dir / "split", 2));
    runner.train();
  }
  {
    auto cfg = script_config(dir / "split", 3);
    cfg["resume"] = true;
    Runner runner(cfg);
    runner.train();
    EXPECT_EQ(runner.iter(), 30);
    resumed = snapshot(runner.model());
  }
  ASSERT_EQ(straight.size(), 9u);
  for (const auto& [name, t] : straight) {
    ASSERT_TRUE(resumed.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, resumed.at(name))) << name;
  }
}

TEST(TorchScriptModelTest, CheckpointStateDictLoadsInPython) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  TempDir dir;
  std::map<std::string, at::Tensor> trained;
  {
    Runner runner(script_config(dir.path(), 1));
    runner.train();
    trained = snapshot(runner.model());
  }
  const std::string script = dir / "check.py";
  std::ofstream(script) << R"(import sys
import torch
sys.path.insert(0, sys.argv[3])
from make_scripted_model import ScriptedCNN
sd = torch.load(sys.argv[1], map_location="cpu")["state_dict"]
scripted = torch.jit.load(sys.argv[2])
assert list(sd.keys()) == list(scripted.state_dict().keys()), (list(sd.keys()), list(scripted.state_dict().keys()))
scripted.load_state_dict(sd, strict=True)
eager = ScriptedCNN()
eager.load_state_dict(sd, strict=True)
scripted.eval(); eager.eval()
x = torch.rand(2, 1, 28, 28)
assert torch.allclose(scripted(x), eager(x))
assert int(sd["bn.num_batches_tracked"]) == 10, sd["bn.num_batches_tracked"]
print("conv.weight[0,0,0,0]=%.9g" % float(sd["conv.weight"][0, 0, 0, 0]))
)";
  const std::string out = dir / "check.out";
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + (dir / "epoch_1.pth") + "' '" +
                          kFixture + "' '" + MMHOOK_SOURCE_DIR + "/scripts' >'" + out + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_all(out);
  char expected[64];
  std::snprintf(expected, sizeof expected, "conv.weight[0,0,0,0]=%.9g",
                trained.at("conv.weight")[0][0][0][0].item<double>());
  EXPECT_NE(read_all(out).find(expected), std::string::npos)
      << read_all(out) << "\nexpected " << expected;
}

TEST(TorchScriptModelTest, BadPathNamesTheFile) {
  TempDir dir;
  try {
    TorchScriptModel model({dir / "no_such_model.pt"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "no_such_model.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), Code::kIo);
  }
  std::ofstream(dir / "not_a_model.pt") << "hello";
  try {
    TorchScriptModel model({dir / "not_a_model.pt"});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir / "not_a_model.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a TorchScript file"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "no C++ backtrace in the message: " << msg;
  }
  // Through a config: the missing key is named with its JSON path.
  auto cfg = script_config(dir / "w", 1);
  cfg["model"].erase("path");
  try {
    Runner runner(cfg);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.path"), std::string::npos) << e.what();
  }
}

// The model contract is checked where it is broken: each case fails with one line that says what
// was expected, and nothing of the interpreter's traceback reaches the console.
std::string train_error(const std::string& fixture, const std::string& work_dir,
                        std::string* console) {
  nlohmann::json cfg = script_config(work_dir, 1);
  cfg["model"]["path"] = std::string(MMHOOK_SOURCE_DIR) + "/tests/fixtures/" + fixture;
  Runner runner(cfg);
  ::testing::internal::CaptureStdout();
  std::string message;
  try {
    runner.train();
  } catch (const Error& e) {
    message = e.what();
  }
  *console = ::testing::internal::GetCapturedStdout();
  return message;
}

std::string log_text(const std::string& log_dir) {
  for (const auto& e : fs::directory_iterator(log_dir))
    if (e.path().extension() == ".log") return read_all(e.path());
  return "";
}

TEST(TorchScriptModelTest, ForwardThatRaisesFailsInOneLineWithTheTracebackInTheLogFile) {
  TempDir dir;
  std::string console;
  const std::string msg = train_error("scripted_raises.pt", dir.path(), &console);
  EXPECT_NE(msg.find("scripted_raises.pt': forward failed on inputs of shape [6, 1, 28, 28]: "
                     "builtins.RuntimeError: scripted forward refuses this batch"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(console.find("Traceback"), std::string::npos) << console;
  EXPECT_NE(console.find("forward failed"), std::string::npos) << console;
  // The whole traceback, with the scripted source line, is kept for whoever reads the log.
  std::string log_dir;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.is_directory()) log_dir = e.path();
  const std::string log = log_text(log_dir);
  EXPECT_NE(log.find("Traceback of TorchScript"), std::string::npos) << log;
  EXPECT_NE(log.find("raise RuntimeError(\"scripted forward refuses this batch\")"),
            std::string::npos)
      << log;
}

TEST(TorchScriptModelTest, IntegerLogitsAreNamed) {
  TempDir dir;
  std::string console;
  const std::string msg = train_error("scripted_int_logits.pt", dir.path(), &console);
  EXPECT_NE(msg.find("TorchScriptModel: logits must be floating point, got Long"),
            std::string::npos)
      << msg;
}

TEST(TorchScriptModelTest, LogitsCutOffFromTheParametersAreNamed) {
  TempDir dir;
  std::string console;
  const std::string msg = train_error("scripted_detached.pt", dir.path(), &console);
  EXPECT_NE(msg.find("the loss does not require grad: the model's output is not connected to a "
                     "trainable parameter"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace mmhook
