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

struct mmh_runner {
  std::unique_ptr<mmhook::Runner> runner;
  std::atomic<bool> running{false};
};

struct mmh_sample {
  mmhook::TensorDict* dict;
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
