// Private to libmmhook.so: the structs behind the C handles and the exception guard.
#pragma once

#include <atomic>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "mmhook.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
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

/// Builds the engine-side hook of a C hook description (takes ownership of user_data).
std::shared_ptr<Hook> make_c_hook(const mmh_hook_desc_t& desc);

/// Reads a caller's versioned struct: copies min(struct_size, sizeof(T)) bytes over defaults.
template <class T>
T read_versioned(const T* in, const T& defaults) {
  T out = defaults;
  const size_t n = in->struct_size < sizeof(T) ? in->struct_size : sizeof(T);
  std::memcpy(static_cast<void*>(&out), in, n);
  out.struct_size = sizeof(T);
  return out;
}

}  // namespace mmhook::capi
