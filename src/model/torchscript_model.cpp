#include "mmhook/model/torchscript_model.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <unistd.h>

#include <caffe2/serialize/read_adapter_interface.h>

#include <cerrno>
#include <cstring>
#include <string>

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

// The error of a scripted forward that raised. The interpreter's message is a traceback of the
// scripted code ending in the error itself: the last line is the error; the whole of it goes to
// the log file only.
DetailedError forward_failed(const std::string& where, const std::string& on,
                             const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  return DetailedError(Code::kTorch,
                       detail::str_cat(where, ": forward failed on ", on, ": ", last_line(text),
                                       text.find('\n') == std::string::npos
                                           ? ""
                                           : " (the TorchScript traceback is in the log file)"),
                       text);
}

// "{inputs: [4, 4] Float, labels: [4, 1] Float}".
std::string describe_batch(const TensorDict& batch) {
  std::string out = "{";
  for (const auto& [key, value] : batch) {
    if (out.size() > 1) out += ", ";
    out += key + ": " +
           (value.defined() ? detail::str_cat(value.sizes(), " ", value.scalar_type())
                            : std::string("undefined"));
  }
  return out + "}";
}

// Python's spelling of a method's schema, without `self`: "forward(x: int) -> Tensor".
std::string python_signature(const c10::FunctionSchema& schema) {
  std::string out = schema.name() + "(";
  const auto& args = schema.arguments();
  for (size_t i = args.empty() || args[0].name() != "self" ? 0 : 1; i < args.size(); ++i) {
    if (out.back() != '(') out += ", ";
    out += args[i].name() + ": " + args[i].type()->annotation_str();
  }
  out += ") -> ";
  const auto& returns = schema.returns();
  if (returns.size() == 1) return out + returns[0].type()->annotation_str();
  if (returns.empty()) return out + "None";
  std::string tuple = "Tuple[";
  for (const auto& r : returns)
    tuple += (tuple.back() == '[' ? "" : ", ") + r.type()->annotation_str();
  return out + tuple + "]";
}

constexpr const char* kLogitsSignature = "forward(self, inputs: Tensor) -> Tensor";
constexpr const char* kDictSignature =
    "forward(self, batch: Dict[str, Tensor], mode: str) -> Dict[str, Tensor]";

// The contract `forward`'s schema follows: its leading parameters accept the contract's
// arguments, every later one has a default value, and it returns the contract's type.
TorchScriptContract read_contract(const c10::FunctionSchema& schema, const std::string& path) {
  const auto& args = schema.arguments();
  const size_t first = args.empty() || args[0].name() != "self" ? 0 : 1;
  auto accepts = [&](size_t i, const c10::TypePtr& type) {
    return first + i < args.size() && type->isSubtypeOf(*args[first + i].type());
  };
  auto defaults_from = [&](size_t i) {
    for (size_t k = first + i; k < args.size(); ++k)
      if (!args[k].default_value().has_value()) return false;
    return true;
  };
  auto returns = [&](const c10::TypePtr& type) {
    return schema.returns().size() == 1 && schema.returns()[0].type()->isSubtypeOf(*type);
  };
  const c10::TypePtr tensor = c10::TensorType::get();
  const c10::TypePtr dict = c10::DictType::create(c10::StringType::get(), tensor);
  if (accepts(0, dict) && accepts(1, c10::StringType::get()) && defaults_from(2)) {
    MMHOOK_CHECK(returns(dict), "TorchScriptModel.path '", path, "': ", python_signature(schema),
                 " takes MMEngine's (batch, mode) but must return Dict[str, Tensor] (",
                 kDictSignature, ")");
    return TorchScriptContract::kDict;
  }
  if (accepts(0, tensor) && defaults_from(1)) {
    MMHOOK_CHECK(returns(tensor), "TorchScriptModel.path '", path, "': ", python_signature(schema),
                 " takes inputs but must return a Tensor of logits (", kLogitsSignature, ")");
    return TorchScriptContract::kLogits;
  }
  MMHOOK_THROW(Code::kInvalidArgument, "TorchScriptModel.path '", path,
               "': ", python_signature(schema), " fits neither model contract: ", kLogitsSignature,
               " (logits, trained with cross-entropy) or ", kDictSignature,
               " (MMEngine's BaseModel, mode 'loss', 'predict' or 'tensor')");
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
  contract_ = read_contract(impl_->module.get_method("forward").function().getSchema(), path);
  mirror(impl_->module, *this);
  impl_->module.train(is_training());
}

TorchScriptModel::~TorchScriptModel() = default;

at::Tensor TorchScriptModel::forward(const at::Tensor& inputs) {
  MMHOOK_CHECK(contract_ == TorchScriptContract::kLogits, "TorchScriptModel '", options_.path,
               "': forward(inputs) is the logits contract; this module's forward takes (batch, ",
               "mode): use forward_loss, forward_predict or forward_tensor");
  torch::jit::GraphOptimizerEnabledGuard optimize(options_.optimize);
  c10::IValue out;
  try {
    out = impl_->module.forward({inputs});
  } catch (const std::exception& e) {
    throw forward_failed(detail::str_cat("TorchScriptModel '", options_.path, "'"),
                         detail::str_cat("inputs of shape ", inputs.sizes()), e);
  }
  if (!out.isTensor())
    MMHOOK_THROW(Code::kInvalidArgument, "TorchScriptModel '", options_.path,
                 "': forward must return a Tensor of logits, got ", out.tagKind());
  return out.toTensor();
}

TensorDict TorchScriptModel::forward_dict(const TensorDict& batch, const char* mode) {
  const std::string where =
      detail::str_cat("TorchScriptModel '", options_.path, "' mode '", mode, "'");
  c10::Dict<std::string, at::Tensor> in;
  for (const auto& [key, value] : batch) in.insert(key, value);
  torch::jit::GraphOptimizerEnabledGuard optimize(options_.optimize);
  c10::IValue out;
  try {
    out = impl_->module.forward({in, std::string(mode)});
  } catch (const std::exception& e) {
    throw forward_failed(where, "batch " + describe_batch(batch), e);
  }
  // The schema promised Dict[str, Tensor]; checked anyway, as the logits' Tensor is.
  MMHOOK_CHECK(out.isGenericDict(), where, ": forward must return Dict[str, Tensor], got ",
               out.tagKind());
  TensorDict result;
  for (const auto& entry : out.toGenericDict()) {
    MMHOOK_CHECK(entry.key().isString() && entry.value().isTensor(), where,
                 ": forward must return Dict[str, Tensor], got an entry ", entry.key().tagKind(),
                 " -> ", entry.value().tagKind());
    result.set(entry.key().toStringRef(), entry.value().toTensor());
  }
  return result;
}

TensorDict TorchScriptModel::forward_loss(const TensorDict& batch) {
  if (contract_ == TorchScriptContract::kLogits) {
    at::Tensor logits = forward(batch.at("inputs"));
    TensorDict losses;
    losses.set("loss", classification_loss(logits, batch.at("targets"), "TorchScriptModel"));
    return losses;
  }
  TensorDict losses = forward_dict(batch, "loss");
  // parse_losses would accept more (it means any shape); the checks name the file, the mode and
  // the key instead of failing later without them.
  const std::string where = detail::str_cat("TorchScriptModel '", options_.path, "' mode 'loss'");
  std::string keys;
  bool any_loss = false;
  for (const std::string& key : losses.keys()) {
    keys += (keys.empty() ? "" : ", ") + key;
    any_loss = any_loss || key.find("loss") != std::string::npos;
  }
  MMHOOK_CHECK(any_loss, where,
               ": forward returned no key containing 'loss' (keys: ", keys.empty() ? "none" : keys,
               "); the loss is the sum of the entries whose key contains 'loss'");
  for (const auto& [key, value] : losses) {
    const bool is_loss = key.find("loss") != std::string::npos;
    MMHOOK_CHECK(value.defined(), where, ": '", key, "' is an undefined tensor");
    MMHOOK_CHECK(at::isFloatingType(value.scalar_type()), where, ": ",
                 is_loss ? "loss '" : "entry '", key, "' must be a floating-point tensor",
                 is_loss ? "" : " (every entry is logged as its mean)", ", got ",
                 value.scalar_type());
    MMHOOK_CHECK(!is_loss || value.numel() == 1, where, ": loss '", key,
                 "' must be a scalar (one element), got shape ", value.sizes());
  }
  return losses;
}

TensorDict TorchScriptModel::forward_predict(const TensorDict& batch) {
  if (contract_ == TorchScriptContract::kDict) return forward_dict(batch, "predict");
  TensorDict out;
  out.set("outputs", forward(batch.at("inputs")));
  return out;
}

TensorDict TorchScriptModel::forward_tensor(const TensorDict& batch) {
  if (contract_ == TorchScriptContract::kDict) return forward_dict(batch, "tensor");
  return forward_predict(batch);
}

void TorchScriptModel::train(bool on) {
  torch::nn::Module::train(on);
  if (impl_) impl_->module.train(on);
}

}  // namespace mmhook
