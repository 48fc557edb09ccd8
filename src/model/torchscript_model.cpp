#include "mmhook/model/torchscript_model.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <unistd.h>

#include <caffe2/serialize/read_adapter_interface.h>

#include <cerrno>
#include <cstring>

#include "mmhook/core/detailed_error.h"
#include "mmhook/core/error.h"
#include "mmhook/core/file_io.h"

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

// The archive reader's view of an open regular file (positioned reads, as torch's own
// FileAdapter does with a path it opens itself).
struct FdReadAdapter : caffe2::serialize::ReadAdapterInterface {
  RegularFile file;
  std::string path;

  size_t size() const override { return static_cast<size_t>(file.size()); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    char* p = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(file.fd(), p + done, n - done, static_cast<off_t>(pos + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': cannot read ", what, ": ",
                     std::strerror(errno));
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }
};

// The last non-blank line of a message (an interpreter traceback ends with the error).
std::string last_line(const std::string& text) {
  const size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return text;
  const size_t newline = text.rfind('\n', end);
  const size_t begin = newline == std::string::npos ? 0 : newline + 1;
  return text.substr(begin, end + 1 - begin);
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
  // Only a regular file within the checkpoint size limit; the archive is read through the
  // descriptor that was checked, so a file swapped in meanwhile (a FIFO, say) is never opened.
  auto file = std::make_shared<FdReadAdapter>();
  const FileProblem problem = open_regular_file(path, checkpoint_size_limit(), file->file);
  if (problem.err == ENOENT)
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': no such file");
  if (!problem.ok())
    MMHOOK_THROW(Code::kIo, "TorchScriptModel.path '", path, "': cannot open: ", problem.reason);
  file->path = path;
  try {
    impl_->module = torch::jit::load(std::shared_ptr<caffe2::serialize::ReadAdapterInterface>(file),
                                     torch::kCPU);
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
  c10::IValue out;
  try {
    out = impl_->module.forward({inputs});
  } catch (const std::exception& e) {
    // The interpreter's message is a traceback of the scripted code ending in the error itself:
    // the last line is the error; the whole of it goes to the log file only.
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    const std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
    throw DetailedError(Code::kTorch,
                        detail::str_cat("TorchScriptModel '", options_.path,
                                        "': forward failed on inputs of shape ", inputs.sizes(),
                                        ": ", last_line(text),
                                        text.find('\n') == std::string::npos
                                            ? ""
                                            : " (the TorchScript traceback is in the log file)"),
                        text);
  }
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
