#include "mmhook/checkpoint/checkpoint.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>

#include <ATen/ops/empty.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include "checkpoint/pickle_compat.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/error.h"
#include "mmhook/core/file_io.h"

namespace mmhook {

// ----------------------------------------------------------------------------------- Checkpoint

Checkpoint::Checkpoint() : dict_(make_generic_dict()) {}

Checkpoint::Checkpoint(const c10::impl::GenericDict& dict) : dict_(dict) {
  for (const auto& entry : dict_) {
    MMHOOK_CHECK_CODE(entry.key().isString(), Code::kCheckpoint,
                      "checkpoint dict keys must be strings, found a key of type '",
                      entry.key().tagKind(), "'");
  }
}

bool Checkpoint::contains(const std::string& key) const { return dict_.contains(key); }

c10::IValue Checkpoint::get(const std::string& key) const {
  auto it = dict_.find(key);
  if (it == dict_.end()) {
    std::ostringstream known;
    for (const auto& k : keys()) known << (known.tellp() > 0 ? ", " : "") << k;
    MMHOOK_THROW(Code::kNotFound, "checkpoint has no key '", key, "' (keys: ", known.str(), ")");
  }
  return it->value();
}

void Checkpoint::set(const std::string& key, c10::IValue value) {
  dict_.insert_or_assign(c10::IValue(key), std::move(value));
}

bool Checkpoint::erase(const std::string& key) { return dict_.erase(key) > 0; }

std::vector<std::string> Checkpoint::keys() const {
  std::vector<std::string> out;
  out.reserve(dict_.size());
  for (const auto& entry : dict_) out.push_back(entry.key().toStringRef());
  return out;
}

c10::impl::GenericDict& Checkpoint::dict() { return dict_; }

const c10::impl::GenericDict& Checkpoint::dict() const { return dict_; }

c10::impl::GenericDict Checkpoint::meta() const {
  auto it = dict_.find(kCheckpointMetaKey);
  if (it != dict_.end() && it->value().isGenericDict()) return it->value().toGenericDict();
  return make_generic_dict();
}

namespace {

// The dict stored under `key` in `parent`, created (and inserted) when absent.
c10::impl::GenericDict child_dict(c10::impl::GenericDict& parent, const std::string& key,
                                  const std::string& what) {
  auto it = parent.find(key);
  if (it == parent.end()) {
    auto child = make_generic_dict();
    parent.insert(c10::IValue(key), c10::IValue(child));
    return child;
  }
  MMHOOK_CHECK_CODE(it->value().isGenericDict(), Code::kCheckpoint, "checkpoint ", what,
                    " must be a dict, found '", it->value().tagKind(), "'");
  return it->value().toGenericDict();
}

}  // namespace

void Checkpoint::set_meta(const std::string& key, c10::IValue value) {
  child_dict(dict_, kCheckpointMetaKey, "'meta'")
      .insert_or_assign(c10::IValue(key), std::move(value));
}

void Checkpoint::put_hook_state(const std::string& hook, const std::string& key,
                                c10::IValue value) {
  auto states = child_dict(dict_, kCheckpointHookStatesKey, "'hook_states'");
  child_dict(states, hook, "'hook_states." + hook + "'")
      .insert_or_assign(c10::IValue(key), std::move(value));
}

std::optional<c10::IValue> Checkpoint::get_hook_state(const std::string& hook,
                                                      const std::string& key) const {
  auto states = dict_.find(kCheckpointHookStatesKey);
  if (states == dict_.end() || !states->value().isGenericDict()) return std::nullopt;
  auto per_hook = states->value().toGenericDict();
  auto hook_it = per_hook.find(hook);
  if (hook_it == per_hook.end() || !hook_it->value().isGenericDict()) return std::nullopt;
  auto values = hook_it->value().toGenericDict();
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->value();
}

c10::IValue bytes_to_ivalue(const void* data, size_t size) {
  auto tensor = at::empty({static_cast<int64_t>(size)}, at::TensorOptions().dtype(at::kByte));
  if (size > 0) std::memcpy(tensor.data_ptr(), data, size);
  return c10::IValue(tensor);
}

std::string ivalue_to_bytes(const c10::IValue& value) {
  if (value.isString()) return value.toStringRef();
  MMHOOK_CHECK(value.isTensor(), "ivalue_to_bytes: expected a uint8 tensor, got '", value.tagKind(),
               "'");
  auto tensor = value.toTensor();
  MMHOOK_CHECK(tensor.defined() && tensor.scalar_type() == at::kByte && tensor.dim() == 1,
               "ivalue_to_bytes: expected a 1-D uint8 tensor, got ",
               tensor.defined() ? c10::toString(tensor.scalar_type()) : "undefined", " of shape ",
               tensor.defined() ? tensor.sizes() : at::IntArrayRef{});
  tensor = tensor.contiguous().cpu();
  return std::string(static_cast<const char*>(tensor.data_ptr()),
                     static_cast<size_t>(tensor.numel()));
}

namespace {

// A string read from a file, fit for an error message: at most 40 characters, bytes outside
// printable ASCII as \xNN.
std::string printable(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > 40) out += "...";
  return out;
}

[[noreturn]] void checkpoint_fail(const std::string& path, const std::string& reason) {
  MMHOOK_THROW(Code::kCheckpoint, "checkpoint '", path, "': ", reason);
}

std::string first_line(const char* text) {
  std::string s(text);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

// ------------------------------------------------------------------------------- serialization

std::vector<char> serialize_checkpoint(const Checkpoint& ckpt) {
  const auto& source = ckpt.dict();
  c10::impl::GenericDict meta = make_generic_dict();
  auto meta_it = source.find(kCheckpointMetaKey);
  if (meta_it != source.end()) {
    MMHOOK_CHECK(meta_it->value().isGenericDict(), "checkpoint 'meta' must be a dict, found '",
                 meta_it->value().tagKind(), "'");
    meta = meta_it->value().toGenericDict().copy();
  }
  // Shallow copy so the caller's dict never sees the checksum; `meta` goes first as in MMEngine
  // when it has to be created.
  auto top = make_generic_dict();
  if (meta_it == source.end()) top.insert(c10::IValue(kCheckpointMetaKey), c10::IValue(meta));
  for (const auto& entry : source) {
    if (entry.key().isString() && entry.key().toStringRef() == kCheckpointMetaKey) {
      top.insert(entry.key(), c10::IValue(meta));
    } else {
      top.insert(entry.key(), entry.value());
    }
  }
  meta.insert_or_assign(c10::IValue(kCheckpointChecksumKey),
                        c10::IValue(checkpoint_checksum(c10::IValue(top))));
  try {
    return torch::jit::pickle_save(c10::IValue(top));
  } catch (const c10::Error& e) {
    MMHOOK_THROW(Code::kCheckpoint,
                 "cannot serialize checkpoint: ", first_line(e.what_without_backtrace()));
  }
}

Checkpoint deserialize_checkpoint(const std::vector<char>& bytes, const std::string& path) {
  if (bytes.empty()) checkpoint_fail(path, "file is empty");
  if (static_cast<unsigned char>(bytes[0]) == 0x80) {
    checkpoint_fail(path,
                    "legacy (non-zip) torch.save format is not supported; re-save it with "
                    "torch.save(obj, f, _use_new_zipfile_serialization=True)");
  }
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0) {
    checkpoint_fail(path, "not a PyTorch archive (no zip header; wrong format)");
  }
  c10::IValue root;
  try {
    root = detail::load_pickle_archive(bytes);
  } catch (const c10::Error& e) {
    checkpoint_fail(path, std::string("truncated or corrupt PyTorch archive: ") +
                              first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    checkpoint_fail(path,
                    std::string("truncated or corrupt PyTorch archive: ") + first_line(e.what()));
  }
  if (!root.isGenericDict()) {
    checkpoint_fail(path, std::string("not a dict (the archive holds a '") + root.tagKind() + "')");
  }
  auto dict = root.toGenericDict();
  for (const auto& entry : dict) {
    if (!entry.key().isString()) {
      checkpoint_fail(path, std::string("not a checkpoint dict (a key of type '") +
                                entry.key().tagKind() + "' is not a string)");
    }
  }
  // A bare state dict (torch.save(model.state_dict())): every value is a tensor.
  if (!dict.contains(kCheckpointStateDictKey) && dict.size() > 0) {
    bool all_tensors = true;
    for (const auto& entry : dict) all_tensors = all_tensors && entry.value().isTensor();
    if (all_tensors) {
      Checkpoint ckpt;
      ckpt.set(kCheckpointStateDictKey, c10::IValue(dict));
      return ckpt;
    }
  }
  auto meta = dict.find(kCheckpointMetaKey);
  // mmhook always writes meta.checksum (and a loop_state, which MMEngine does not): a checkpoint
  // with a loop_state but no checksum had a bit flip in a key name ("meta", "checksum"), which
  // must not switch verification off.
  const bool has_checksum = meta != dict.end() && meta->value().isGenericDict() &&
                            meta->value().toGenericDict().contains(kCheckpointChecksumKey);
  if (!has_checksum && dict.contains("loop_state"))
    checkpoint_fail(path, "meta.checksum is missing from an mmhook checkpoint (corrupt file)");
  if (meta != dict.end() && meta->value().isGenericDict()) {
    const auto meta_dict = meta->value().toGenericDict();
    auto stored = meta_dict.find(kCheckpointChecksumKey);
    if (stored != meta_dict.end()) {
      if (!stored->value().isString()) checkpoint_fail(path, "meta.checksum is not a string");
      const std::string& stored_sum = stored->value().toStringRef();
      const std::optional<ChecksumFormat> format = checksum_format(stored_sum);
      if (!format)
        checkpoint_fail(path, "meta.checksum '" + printable(stored_sum) +
                                  "' is in no known format (expected mmh64: and 16 hex digits, "
                                  "or 16 hex digits; corrupt file)");
      std::string computed;
      try {
        computed = checkpoint_checksum(root, *format);
      } catch (const Error& e) {
        checkpoint_fail(path, e.what());
      }
      if (computed != stored->value().toStringRef()) {
        checkpoint_fail(path, "checksum mismatch (stored " + stored->value().toStringRef() +
                                  ", computed " + computed + ")");
      }
    }
  }
  return Checkpoint(dict);
}

void save_checkpoint_file(const std::string& path, const Checkpoint& ckpt) {
  const auto bytes = serialize_checkpoint(ckpt);
  write_file_atomic(path, bytes.data(), bytes.size());
}

Checkpoint load_checkpoint_file(const std::string& path) {
  std::vector<char> bytes;
  const FileProblem problem = read_regular_file(path, checkpoint_size_limit(), bytes);
  if (problem.err == ENOENT) checkpoint_fail(path, "file not found");
  if (problem.err != 0) checkpoint_fail(path, "cannot read: " + problem.reason);
  if (!problem.ok()) checkpoint_fail(path, problem.reason);
  return deserialize_checkpoint(bytes, path);
}

}  // namespace mmhook
