#include "mmhook/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

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

// ------------------------------------------------------------------------------------ checksum

namespace {

// 64-bit FNV-1a over a canonical byte stream of the IValue tree.
class Fnv1a64 {
 public:
  void bytes(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h = hash_;
    for (size_t i = 0; i < size; ++i) {
      h ^= p[i];
      h *= 0x100000001b3ULL;
    }
    hash_ = h;
  }
  void tag(char t) { bytes(&t, 1); }
  void u64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(le, 8);
  }
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

void hash_ivalue(Fnv1a64& h, const c10::IValue& v, bool is_root);

void hash_tensor(Fnv1a64& h, const at::Tensor& tensor) {
  h.tag('T');
  if (!tensor.defined()) {
    h.tag('U');
    return;
  }
  MMHOOK_CHECK(tensor.layout() == at::kStrided && !tensor.is_quantized(),
               "checkpoint checksum: unsupported tensor layout ", tensor.layout());
  h.str(c10::toString(tensor.scalar_type()));
  h.u64(static_cast<uint64_t>(tensor.dim()));
  for (int64_t s : tensor.sizes()) h.u64(static_cast<uint64_t>(s));
  auto data = tensor.is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
  h.bytes(data.data_ptr(), data.numel() * data.element_size());
}

void hash_ivalue(Fnv1a64& h, const c10::IValue& v, bool is_root) {
  if (v.isNone()) {
    h.tag('N');
  } else if (v.isBool()) {
    h.tag('B');
    h.tag(v.toBool() ? 1 : 0);
  } else if (v.isInt()) {
    h.tag('I');
    h.u64(static_cast<uint64_t>(v.toInt()));
  } else if (v.isDouble()) {
    h.tag('D');
    const double d = v.toDouble();
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    h.u64(bits);
  } else if (v.isComplexDouble()) {
    h.tag('C');
    const auto c = v.toComplexDouble();
    const double parts[2] = {c.real(), c.imag()};
    h.bytes(parts, sizeof parts);
  } else if (v.isString()) {
    h.tag('S');
    h.str(v.toStringRef());
  } else if (v.isTensor()) {
    hash_tensor(h, v.toTensor());
  } else if (v.isList()) {
    const auto list = v.toListRef();
    h.tag('L');
    h.u64(list.size());
    for (const auto& item : list) hash_ivalue(h, item, false);
  } else if (v.isTuple()) {
    const auto& items = v.toTupleRef().elements();
    h.tag('P');
    h.u64(items.size());
    for (const auto& item : items) hash_ivalue(h, item, false);
  } else if (v.isGenericDict()) {
    const auto dict = v.toGenericDict();
    h.tag('M');
    for (const auto& entry : dict) {
      // meta["checksum"] is the digest itself and stays out of it.
      if (is_root && entry.key().isString() && entry.key().toStringRef() == kCheckpointMetaKey &&
          entry.value().isGenericDict()) {
        const auto meta = entry.value().toGenericDict();
        hash_ivalue(h, entry.key(), false);
        h.tag('M');
        for (const auto& m : meta) {
          if (m.key().isString() && m.key().toStringRef() == kCheckpointChecksumKey) continue;
          hash_ivalue(h, m.key(), false);
          hash_ivalue(h, m.value(), false);
        }
        h.tag('m');
        continue;
      }
      hash_ivalue(h, entry.key(), false);
      hash_ivalue(h, entry.value(), false);
    }
    h.tag('m');
  } else if (v.isDevice()) {
    h.tag('V');
    h.str(v.toDevice().str());
  } else {
    MMHOOK_THROW(Code::kInvalidArgument, "checkpoint checksum: unsupported value of type '",
                 v.tagKind(), "'");
  }
}

std::string to_hex(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
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

std::string checkpoint_checksum(const c10::IValue& dict) {
  Fnv1a64 h;
  hash_ivalue(h, dict, /*is_root=*/true);
  return to_hex(h.value());
}

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
    return torch::pickle_save(c10::IValue(top));
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
      std::string computed;
      try {
        computed = checkpoint_checksum(root);
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

// ----------------------------------------------------------------------------------------- files

namespace {

[[noreturn]] void io_fail(const std::string& path, const std::string& step, int err) {
  MMHOOK_THROW(Code::kIo, "cannot write '", path, "': ", step, ": ", std::strerror(err));
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  MMHOOK_CHECK(!target.filename().empty(), "write_file_atomic: '", path, "' names no file");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // A file size limit (ulimit -f) then fails the write with EFBIG, reported below like a full
  // disk, instead of SIGXFSZ killing the process without a word.
  ignore_sigxfsz_once();
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) io_fail(path, "cannot create a temporary file in '" + dir.string() + "'", errno);
  const std::string tmp = tmpl;
  auto fail = [&](const std::string& step, int err, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(tmp.c_str());
    io_fail(path, step, err);
  };
  const auto* p = static_cast<const char*>(data);
  // Fault injection for the kill-anywhere test (tests/reliability): MMHOOK_FAULT_WRITE_PAUSE_US
  // pauses after the first half of the bytes, widening the window in which a SIGKILL leaves a
  // partial temporary file. Unset (always, outside that test) it costs one getenv per process.
  static const long pause_us = [] {
    const char* v = std::getenv("MMHOOK_FAULT_WRITE_PAUSE_US");
    return v != nullptr ? std::strtol(v, nullptr, 10) : 0L;
  }();
  const size_t half = pause_us > 0 ? size / 2 : size;
  for (const size_t end : {half, size}) {
    while (static_cast<size_t>(p - static_cast<const char*>(data)) < end) {
      const ssize_t n =
          ::write(fd, p, end - static_cast<size_t>(p - static_cast<const char*>(data)));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write", errno, true);
      }
      p += n;
    }
    if (end == half && pause_us > 0) ::usleep(static_cast<useconds_t>(pause_us));
  }
  if (::fchmod(fd, 0644) != 0) fail("chmod", errno, true);
  if (::fsync(fd) != 0) fail("fsync", errno, true);
  if (::close(fd) != 0) fail("close", errno, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from '" + tmp + "'", errno, false);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) io_fail(path, "open folder '" + dir.string() + "' for fsync", errno);
  // Some filesystems cannot fsync a folder (EINVAL); the rename itself has succeeded then.
  if (::fsync(dfd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(dfd);
    io_fail(path, "fsync folder '" + dir.string() + "'", err);
  }
  ::close(dfd);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, contents.data(), contents.size());
}

std::string read_text_file(const std::string& path) {
  return read_regular_file(path, text_file_size_limit());
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
