#pragma once
/// @file
/// `Checkpoint`: the checkpoint dict MMEngine passes to `before_save_checkpoint` and
/// `after_load_checkpoint` hooks, and its file format (docs/design.md §A3): a PyTorch pickle
/// archive (`torch::pickle_save`) that Python's `torch.load` reads, with a checksum in `meta`.

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmhook/checkpoint/atomic_file.h"
#include "mmhook/checkpoint/checksum.h"

namespace mmhook {

/// Top-level key of the checkpoint's metadata dict.
inline constexpr const char* kCheckpointMetaKey = "meta";
/// Key inside `meta` holding the content checksum (`checkpoint_checksum`: `mmh64:` and 16
/// lowercase hex digits; 16 bare hex digits in files of mmhook 0.1).
inline constexpr const char* kCheckpointChecksumKey = "checksum";
/// Top-level key of the per-hook states (`hook_states/<hook name>/<key>`).
inline constexpr const char* kCheckpointHookStatesKey = "hook_states";
/// Top-level key of the model weights.
inline constexpr const char* kCheckpointStateDictKey = "state_dict";

/// A checkpoint: an insertion-ordered dict from string keys to IValues (`meta`, `state_dict`,
/// `optimizer`, `param_schedulers`, `message_hub`, `rng_state`, `loop_state`, `hook_states`...).
/// Like an IValue, copies share the underlying dict; sub-dicts returned by `get` are live views.
class Checkpoint {
 public:
  /// An empty checkpoint (`GenericDict(str, Any)`).
  Checkpoint();
  /// Wraps an existing dict (shared, not copied); every key must be a string (Error kCheckpoint).
  explicit Checkpoint(const c10::impl::GenericDict& dict);

  /// Whether the top-level key exists.
  bool contains(const std::string& key) const;
  /// The value of a top-level key; Error kNotFound naming the key when absent.
  c10::IValue get(const std::string& key) const;
  /// Inserts or replaces a top-level key, keeping the position of an existing key.
  void set(const std::string& key, c10::IValue value);
  /// Removes a top-level key; returns whether it was there.
  bool erase(const std::string& key);
  /// The top-level keys in insertion order.
  std::vector<std::string> keys() const;
  /// The underlying dict.
  c10::impl::GenericDict& dict();
  /// The underlying dict (read-only).
  const c10::impl::GenericDict& dict() const;

  /// The `meta` dict (a live view), or a new empty dict when absent.
  c10::impl::GenericDict meta() const;
  /// Sets `meta[key]`, creating `meta` if needed.
  void set_meta(const std::string& key, c10::IValue value);

  /// Stores `hook_states[hook][key] = value`, creating the nested dicts if needed.
  void put_hook_state(const std::string& hook, const std::string& key, c10::IValue value);
  /// `hook_states[hook][key]`, or nullopt when any level is absent.
  std::optional<c10::IValue> get_hook_state(const std::string& hook, const std::string& key) const;

 private:
  c10::impl::GenericDict dict_;
};

/// Raw bytes as an IValue (a 1-D uint8 CPU tensor), the form C hooks' opaque states take.
c10::IValue bytes_to_ivalue(const void* data, size_t size);
/// The bytes of a 1-D uint8 tensor made by `bytes_to_ivalue` (a string IValue is also accepted);
/// any other value is an Error kInvalidArgument.
std::string ivalue_to_bytes(const c10::IValue& value);

/// `torch::pickle_save` of the checkpoint after setting `meta["checksum"]` (on a shallow copy:
/// `ckpt` itself is not modified).
std::vector<char> serialize_checkpoint(const Checkpoint& ckpt);
/// Parses a checkpoint archive; errors are Error kCheckpoint "checkpoint '<path>': <reason>"
/// (empty, truncated / not a PyTorch archive, not a dict, checksum mismatch). A bare state dict
/// (a dict of tensors without "state_dict") comes back as `{"state_dict": that dict}`.
Checkpoint deserialize_checkpoint(const std::vector<char>& bytes,
                                  const std::string& path_for_errors);

/// Writes `serialize_checkpoint(ckpt)` to `path` atomically (see `write_file_atomic`).
void save_checkpoint_file(const std::string& path, const Checkpoint& ckpt);
/// Reads and parses a checkpoint file; Error kCheckpoint "checkpoint '<path>': <reason>" for a
/// missing or unreadable file, a path that is not a regular file (a device, FIFO or folder,
/// after symlinks), a file larger than `checkpoint_size_limit()` (16 GiB unless the environment
/// variable `MMHOOK_MAX_CHECKPOINT_BYTES` sets another number of bytes; see
/// `mmhook/core/file_io.h`), and every reason `deserialize_checkpoint` gives.
Checkpoint load_checkpoint_file(const std::string& path);

}  // namespace mmhook
