#include "mmhook/checkpoint/state_dict.h"

#include <mutex>
#include <regex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>

#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/error.h"

namespace mmhook {

namespace {

// PyTorch's state_dict order: own parameters, own buffers, then each child recursively.
void collect_entries(const torch::nn::Module& module, const std::string& prefix,
                     std::vector<StateEntry>& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    if (p.value().defined()) out.push_back({prefix + p.key(), p.value(), true});
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    if (b.value().defined()) out.push_back({prefix + b.key(), b.value(), false});
  for (const auto& child : module.named_children())
    collect_entries(*child.value(), prefix + child.key() + ".", out);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + ("\"" + s + "\"");
  return out;
}

}  // namespace

std::vector<StateEntry> state_dict_entries(const torch::nn::Module& module) {
  std::vector<StateEntry> out;
  collect_entries(module, "", out);
  return out;
}

std::string describe_key_mismatch(const std::string& prefix, const LoadReport& report) {
  std::string msg = prefix;
  if (!report.unexpected_keys.empty())
    msg += " unexpected key(s): " + join(report.unexpected_keys) + ".";
  if (!report.missing_keys.empty()) msg += " missing key(s): " + join(report.missing_keys) + ".";
  return msg;
}

c10::impl::GenericDict module_state_dict(const torch::nn::Module& module) {
  auto dict = make_generic_dict();
  for (const auto& e : state_dict_entries(module)) {
    dict.insert_or_assign(c10::IValue(e.name), c10::IValue(e.value.detach().to(at::kCPU).clone()));
  }
  return dict;
}

LoadReport load_module_state_dict(
    torch::nn::Module& module, const c10::impl::GenericDict& state, bool strict,
    const std::vector<std::pair<std::string, std::string>>& revise_keys) {
  std::vector<std::pair<std::regex, std::string>> revisions;
  revisions.reserve(revise_keys.size());
  for (const auto& [pattern, replacement] : revise_keys) {
    try {
      revisions.emplace_back(std::regex(pattern), replacement);
    } catch (const std::regex_error& e) {
      MMHOOK_THROW(Code::kInvalidArgument, "load_module_state_dict: invalid revise_keys pattern '",
                   pattern, "': ", e.what());
    }
  }

  // Revised keys in state order; a later duplicate replaces the earlier value.
  std::vector<std::string> state_keys;
  std::unordered_map<std::string, c10::IValue> state_values;
  for (const auto& entry : state) {
    MMHOOK_CHECK_CODE(entry.key().isString(), Code::kCheckpoint,
                      "state dict keys must be strings, found a key of type '",
                      entry.key().tagKind(), "'");
    std::string key = entry.key().toStringRef();
    for (const auto& [re, replacement] : revisions) key = std::regex_replace(key, re, replacement);
    if (state_values.find(key) == state_values.end()) state_keys.push_back(key);
    state_values[key] = entry.value();
  }

  const std::vector<StateEntry> entries = state_dict_entries(module);
  LoadReport report;
  std::unordered_set<std::string> module_keys;
  for (const auto& entry : entries) {
    module_keys.insert(entry.name);
    if (state_values.find(entry.name) == state_values.end())
      report.missing_keys.push_back(entry.name);
  }
  for (const auto& key : state_keys) {
    if (module_keys.find(key) == module_keys.end()) report.unexpected_keys.push_back(key);
  }
  if (strict && (!report.missing_keys.empty() || !report.unexpected_keys.empty())) {
    MMHOOK_THROW(Code::kCheckpoint,
                 describe_key_mismatch("error(s) in loading state_dict (strict):", report));
  }

  // Validate every match before copying anything, so an error leaves the module untouched.
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& entry : entries) {
    const std::string& name = entry.name;
    const at::Tensor& target = entry.value;
    auto it = state_values.find(name);
    if (it == state_values.end()) continue;
    MMHOOK_CHECK_CODE(it->second.isTensor(), Code::kCheckpoint, "state dict entry '", name,
                      "' is a '", it->second.tagKind(), "', expected a tensor");
    const auto& source = it->second.toTensor();
    MMHOOK_CHECK_CODE(source.defined(), Code::kCheckpoint, "state dict entry '", name,
                      "' is an undefined tensor");
    MMHOOK_CHECK_CODE(source.sizes() == target.sizes(), Code::kCheckpoint, "size mismatch for ",
                      name, ": copying a param with shape ", c10::str(source.sizes()),
                      " from checkpoint, the shape in current model is ", c10::str(target.sizes()));
    copies.emplace_back(target, source);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
  return report;
}

c10::IValue capture_rng_state() {
  auto state = make_generic_dict();
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.insert(c10::IValue("cpu"), c10::IValue(gen.get_state()));
  }
  if (torch::cuda::is_available()) {
    auto cuda = make_generic_list();
    const auto count = static_cast<c10::DeviceIndex>(torch::cuda::device_count());
    for (c10::DeviceIndex i = 0; i < count; ++i) {
      auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, i));
      std::lock_guard<std::mutex> lock(gen.mutex());
      cuda.push_back(c10::IValue(gen.get_state()));
    }
    state.insert(c10::IValue("cuda"), c10::IValue(cuda));
  }
  return c10::IValue(state);
}

namespace {

void set_generator_state(at::Generator gen, const c10::IValue& value, const std::string& what) {
  MMHOOK_CHECK_CODE(
      value.isTensor() && value.toTensor().defined() && value.toTensor().scalar_type() == at::kByte,
      Code::kCheckpoint, "rng_state.", what, " must be a uint8 tensor, found '", value.tagKind(),
      "'");
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(value.toTensor().cpu());
  } catch (const c10::Error& e) {
    MMHOOK_THROW(Code::kCheckpoint, "rng_state.", what, ": ", e.what_without_backtrace());
  }
}

}  // namespace

void restore_rng_state(const c10::IValue& state) {
  MMHOOK_CHECK_CODE(state.isGenericDict(), Code::kCheckpoint, "rng_state must be a dict, found '",
                    state.tagKind(), "'");
  const auto dict = state.toGenericDict();
  auto cpu = dict.find("cpu");
  MMHOOK_CHECK_CODE(cpu != dict.end(), Code::kCheckpoint, "rng_state has no 'cpu' entry");
  set_generator_state(at::detail::getDefaultCPUGenerator(), cpu->value(), "cpu");
  auto cuda = dict.find("cuda");
  if (cuda == dict.end() || !torch::cuda::is_available()) return;
  MMHOOK_CHECK_CODE(cuda->value().isList(), Code::kCheckpoint,
                    "rng_state.cuda must be a list, found '", cuda->value().tagKind(), "'");
  const auto states = cuda->value().toListRef();
  const auto count = std::min<size_t>(states.size(), torch::cuda::device_count());
  for (size_t i = 0; i < count; ++i) {
    set_generator_state(at::globalContext().defaultGenerator(
                            c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i))),
                        states[i], "cuda[" + std::to_string(i) + "]");
  }
}

}  // namespace mmhook
