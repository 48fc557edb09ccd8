#include "mmhook/model/torchscript_model.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

// Registers `src`'s own parameters and buffers on `dst` (the same tensors, not copies), then a
// plain holder module per child, recursively: `dst`'s state dict then has the Python module's
// names in its order (own parameters, own buffers, children).
void mirror(const torch::jit::Module& src, torch::nn::Module& dst) {
  for (const auto& p : src.named_parameters(/*recurse=*/false))
    dst.register_parameter(p.name, p.value, p.value.requires_grad());
  for (const auto& b : src.named_buffers(/*recurse=*/false)) dst.register_buffer(b.name, b.value);
  for (const auto& c : src.named_children()) {
    auto holder = std::make_shared<torch::nn::Module>(
        c.value.type()->name() ? c.value.type()->name()->name() : c.name);
    dst.register_module(c.name, holder);
    mirror(c.value, *holder);
  }
}

}  // namespace

struct TorchScriptModel::Impl {
  torch::jit::Module module;
};

TorchScriptModel::TorchScriptModel(TorchScriptModelOptions options)
    : BaseModel("TorchScriptModel"), options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  const std::string& path = options_.path;
  MMHOOK_CHECK(!path.empty(),
               "TorchScriptModel.path: a file written by torch.jit.save is required");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': no such file");
  if (!std::ifstream(path, std::ios::binary))
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': cannot open");
  try {
    impl_->module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    std::string why = e.what();
    const size_t nl = why.find('\n');  // c10 messages carry a C++ backtrace after the first line
    if (nl != std::string::npos) why.resize(nl);
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path,
                 "': not a TorchScript file written by torch.jit.save (", why, ")");
  }
  if (!impl_->module.find_method("forward"))
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': the module has no forward method");
  mirror(impl_->module, *this);
  impl_->module.train(is_training());
}

TorchScriptModel::~TorchScriptModel() = default;

at::Tensor TorchScriptModel::forward(const at::Tensor& inputs) {
  torch::jit::GraphOptimizerEnabledGuard optimize(options_.optimize);
  c10::IValue out = impl_->module.forward({inputs});
  if (!out.isTensor())
    MMHOOK_THROW(Code::kInvalidArgument, "TorchScriptModel '", options_.path,
                 "': forward must return a Tensor of logits, got ", out.tagKind());
  return out.toTensor();
}

TensorDict TorchScriptModel::forward_loss(const TensorDict& batch) {
  at::Tensor logits = forward(batch.at("inputs"));
  TensorDict losses;
  losses.set("loss", classification_loss(logits, batch.at("targets"), "TorchScriptModel"));
  return losses;
}

TensorDict TorchScriptModel::forward_predict(const TensorDict& batch) {
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

void TorchScriptModel::train(bool on) {
  torch::nn::Module::train(on);
  if (impl_) impl_->module.train(on);
}

}  // namespace mmhook
