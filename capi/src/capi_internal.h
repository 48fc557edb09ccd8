// Private to libmmhook.so: the structs behind the C handles and the exception guard.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "mmhook.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/dataset.h"
#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/runner.h"

struct mmh_error {
  mmh_code_t code;
  std::string message;
};

struct mmh_tensor {
  at::Tensor tensor;
  std::vector<int64_t> shape;
  bool owned = false;
};

namespace mmhook::capi {
/// The ScalarType of a C dtype; false for a value outside mmh_dtype_t.
inline bool scalar_type_of(mmh_dtype_t d, c10::ScalarType* out) noexcept {
  switch (d) {
    case MMH_DTYPE_U8: *out = c10::ScalarType::Byte; return true;
    case MMH_DTYPE_I32: *out = c10::ScalarType::Int; return true;
    case MMH_DTYPE_I64: *out = c10::ScalarType::Long; return true;
    case MMH_DTYPE_F32: *out = c10::ScalarType::Float; return true;
    case MMH_DTYPE_F64: *out = c10::ScalarType::Double; return true;
    default: return false;
  }
}
}  // namespace mmhook::capi

/// A runner handle's life: idle, inside one train/val/test call, or inside one with a destroy
/// requested (by a hook of that call or another thread), which the call carries out when it
/// returns. Exactly one side wins each transition, so the handle is deleted exactly once.
namespace mmhook::capi {
enum class RunnerState : int { kIdle = 0, kRunning = 1, kDestroyPending = 2 };
}  // namespace mmhook::capi

struct mmh_runner {
  std::unique_ptr<mmhook::Runner> runner;
  std::atomic<mmhook::capi::RunnerState> state{mmhook::capi::RunnerState::kIdle};
  bool running() const { return state.load() != mmhook::capi::RunnerState::kIdle; }
};

struct mmh_sample {
  mmhook::TensorDict* dict;
  std::string last_error;  // why the last mmh_sample_set_* call failed, for the run's error
};

namespace mmhook::capi {

/// The static error returned when even an error cannot be allocated.
mmh_error_t* oom_error() noexcept;
/// A new error (or the static OOM error).
mmh_error_t* make_error(mmh_code_t code, const std::string& message) noexcept;
/// A new error with a literal message: nothing is allocated before the call, so nothing can
/// throw on the caller's side.
mmh_error_t* make_error(mmh_code_t code, const char* message) noexcept;
/// A new error whose message `message()` builds; the static OOM error if building throws.
template <class F>
mmh_error_t* make_error_with(mmh_code_t code, F&& message) noexcept {
  try {
    return make_error(code, message());
  } catch (...) {
    return oom_error();
  }
}
/// Maps the in-flight exception to an error.
mmh_error_t* error_from_current_exception() noexcept;

/// Runs `body`; any exception becomes a returned error. Every exported fallible function's
/// body sits in one of these.
template <class F>
mmh_error_t* guard(F&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (...) {
    return error_from_current_exception();
  }
}

/// True when `s` (NUL-terminated, non-NULL) is well-formed UTF-8: no overlong forms, no
/// surrogates, nothing above U+10FFFF. Names and keys are checked where they enter: they end up
/// in JSON logs and in checkpoints that Python's pickle reader decodes as UTF-8.
bool is_utf8(const char* s) noexcept;

/// Copies `text` into a caller buffer (NUL-terminated, truncated); returns the full length.
size_t copy_out(const std::string& text, char* buf, size_t cap) noexcept;

/// Checks the (buf, cap, len_out) triple of a text getter: an error naming the argument, or
/// NULL. buf may be NULL only with cap 0 (a length query).
mmh_error_t* check_out_buffer(const void* buf, size_t cap, const size_t* len_out) noexcept;

/// Writes `text` into a checked (buf, cap, len_out) triple (truncated, NUL-terminated) and the
/// full length into *len_out.
inline void write_out(const std::string& text, char* buf, size_t cap, size_t* len_out) noexcept {
  *len_out = copy_out(text, buf, cap);
}

/// The error of a NULL argument: MMH_E_INVALID_ARGUMENT naming it ("runner is NULL").
mmh_error_t* null_argument(const char* what) noexcept;

/// The code of `err` (MMH_OK for NULL), freeing it: for the deprecated functions that return
/// an mmh_code_t.
inline mmh_code_t take_code(mmh_error_t* err) noexcept {
  const mmh_code_t code = mmh_error_code(err);
  mmh_error_free(err);
  return code;
}

/// Adds a dataset type implemented in C (per-sample or batch) to the dataset registry, under
/// the type registries' lock, so that mmh_dataset_type_unregister() removes it.
void add_c_dataset_type(const std::string& name, Registry<Dataset>::Factory factory);

/// Builds the engine-side hook of a C hook description (takes ownership of user_data).
std::shared_ptr<Hook> make_c_hook(const mmh_hook_desc_t& desc);

/// The size of a versioned struct's first version: the smallest struct_size accepted. A field
/// appended later leaves these alone, so callers built against an older header keep working
/// (docs/versioning.md); the fields their struct_size does not cover take their defaults.
template <class T>
struct FirstVersion;
template <>
struct FirstVersion<mmh_hook_desc_t> {
  static constexpr size_t size = offsetof(mmh_hook_desc_t, user_data_free) + sizeof(mmh_free_fn);
  static constexpr const char* name = "mmh_hook_desc_t";
};
template <>
struct FirstVersion<mmh_dataset_desc_t> {
  static constexpr size_t size = offsetof(mmh_dataset_desc_t, user_data_free) + sizeof(mmh_free_fn);
  static constexpr const char* name = "mmh_dataset_desc_t";
};

/// The defaults of a versioned struct, as its `_init` function writes them.
template <class T>
T versioned_defaults() noexcept;
template <>
inline mmh_hook_desc_t versioned_defaults<mmh_hook_desc_t>() noexcept {
  mmh_hook_desc_t d{};
  d.struct_size = sizeof(d);
  d.priority = MMH_PRIORITY_NORMAL;
  return d;
}
template <>
inline mmh_dataset_desc_t versioned_defaults<mmh_dataset_desc_t>() noexcept {
  mmh_dataset_desc_t d{};
  d.struct_size = sizeof(d);
  return d;
}

/// The one `_init` of every versioned struct: writes the defaults over the first
/// min(struct_size, sizeof(T)) bytes and sets struct_size to that many. Does nothing for NULL
/// or a struct_size too small to hold struct_size itself.
template <class T>
void init_versioned(T* desc, size_t struct_size) noexcept {
  if (desc == nullptr || struct_size < sizeof(size_t)) return;
  const T defaults = versioned_defaults<T>();
  const size_t n = struct_size < sizeof(T) ? struct_size : sizeof(T);
  std::memcpy(static_cast<void*>(desc), &defaults, n);
  desc->struct_size = n;
}

/// Reads a caller's versioned struct: copies min(struct_size, sizeof(T)) bytes over defaults.
template <class T>
T read_versioned(const T* in, const T& defaults) {
  T out = defaults;
  const size_t n = in->struct_size < sizeof(T) ? in->struct_size : sizeof(T);
  std::memcpy(static_cast<void*>(&out), in, n);
  out.struct_size = sizeof(T);
  return out;
}

/// Whether a caller's struct_size covers the struct's first version; the MMH_E_ABI error
/// otherwise.
template <class T>
mmh_error_t* check_struct_size(const T* in) noexcept {
  if (in->struct_size >= FirstVersion<T>::size) return nullptr;
  return make_error_with(MMH_E_ABI, [&] {
    return std::string(FirstVersion<T>::name) + ".struct_size " + std::to_string(in->struct_size) +
           " is below " + std::to_string(FirstVersion<T>::size) +
           ", the size of its first version; call its _init function";
  });
}

/// A host's user_data owned by a registration: `free_fn(data)` runs exactly once, when the
/// registration and every object built from it (which hold a shared_ptr) are gone.
struct OwnedUserData {
  OwnedUserData(void* d, mmh_free_fn f) : data(d), free_fn(f) {}
  OwnedUserData(const OwnedUserData&) = delete;
  OwnedUserData& operator=(const OwnedUserData&) = delete;
  ~OwnedUserData() {
    if (free_fn != nullptr) free_fn(data);
  }
  void* data;           ///< the host's pointer
  mmh_free_fn free_fn;  ///< NULL: nothing to free
};

}  // namespace mmhook::capi
