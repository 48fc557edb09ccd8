// Tensor handles of the C ABI: metadata, a safe copy, zero-copy DLPack.

#include <cstring>
#include <limits>
#include <vector>

#include <ATen/DLConvertor.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "capi_internal.h"

using mmhook::capi::guard;
using mmhook::capi::make_error;

extern "C" {

mmh_error_t* mmh_tensor_get_ndim(const mmh_tensor_t* t, size_t* out) {
  if (t == nullptr) return mmhook::capi::null_argument("tensor");
  if (out == nullptr) return mmhook::capi::null_argument("out");
  *out = t->shape.size();
  return nullptr;
}

mmh_error_t* mmh_tensor_get_shape(const mmh_tensor_t* t, const int64_t** out) {
  if (t == nullptr) return mmhook::capi::null_argument("tensor");
  if (out == nullptr) return mmhook::capi::null_argument("out");
  *out = t->shape.data();
  return nullptr;
}

mmh_error_t* mmh_tensor_get_numel(const mmh_tensor_t* t, size_t* out) {
  if (t == nullptr) return mmhook::capi::null_argument("tensor");
  if (out == nullptr) return mmhook::capi::null_argument("out");
  *out = static_cast<size_t>(t->tensor.numel());
  return nullptr;
}

mmh_error_t* mmh_tensor_copy_to_host_f64(const mmh_tensor_t* t, double* dst, size_t count) {
  if (t == nullptr || (dst == nullptr && count > 0))
    return make_error(MMH_E_INVALID_ARGUMENT, "tensor or dst is NULL");
  if (count != static_cast<size_t>(t->tensor.numel()))
    return make_error(MMH_E_INVALID_ARGUMENT, "count " + std::to_string(count) +
                                                  " differs from the tensor's numel " +
                                                  std::to_string(t->tensor.numel()));
  return guard([&] {
    at::Tensor host = t->tensor.detach().to(at::kCPU, at::kDouble).contiguous();
    if (count > 0) std::memcpy(dst, host.data_ptr<double>(), count * sizeof(double));
  });
}

mmh_error_t* mmh_tensor_retain(const mmh_tensor_t* t, mmh_tensor_t** out) {
  if (out == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (t == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "tensor is NULL");
  return guard([&] {
    auto handle = std::make_unique<mmh_tensor_t>();
    handle->tensor = t->tensor;
    handle->shape = t->shape;
    handle->owned = true;
    *out = handle.release();
  });
}

mmh_error_t* mmh_tensor_from_host(mmh_dtype_t dtype, const int64_t* shape, size_t ndim,
                                  const void* data, size_t nbytes, mmh_tensor_t** out) {
  if (out == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (shape == nullptr && ndim > 0) return make_error(MMH_E_INVALID_ARGUMENT, "shape is NULL");
  if (data == nullptr && nbytes > 0) return make_error(MMH_E_INVALID_ARGUMENT, "data is NULL");
  c10::ScalarType type{};
  if (!mmhook::capi::scalar_type_of(dtype, &type))
    return mmhook::capi::make_error_with(MMH_E_INVALID_ARGUMENT, [&] {
      return "dtype " + std::to_string(dtype) + " is not an mmh_dtype_t";
    });
  return guard([&] {
    std::vector<int64_t> sizes(shape, shape + ndim);
    // The element count in bytes, refusing sizes whose product overflows.
    size_t expected = c10::elementSize(type);
    for (size_t d = 0; d < ndim; ++d) {
      MMHOOK_CHECK(sizes[d] >= 0, "shape[", d, "] is ", sizes[d], " (sizes must be >= 0)");
      const auto size = static_cast<size_t>(sizes[d]);
      MMHOOK_CHECK(size == 0 || expected <= std::numeric_limits<size_t>::max() / size,
                   "the shape's element count overflows");
      expected *= size;
    }
    MMHOOK_CHECK(nbytes == expected, "nbytes is ", nbytes, " but the shape and dtype need ",
                 expected);
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(type));
    if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
    auto handle = std::make_unique<mmh_tensor_t>();
    handle->tensor = std::move(t);
    handle->shape = std::move(sizes);
    handle->owned = true;
    *out = handle.release();
  });
}

void mmh_tensor_free(mmh_tensor_t* t) {
  if (t != nullptr && t->owned) delete t;
}

mmh_error_t* mmh_tensor_to_dlpack(const mmh_tensor_t* t, DLManagedTensor** out) {
  if (out == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (t == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "tensor is NULL");
  return guard([&] { *out = at::toDLPack(t->tensor.detach()); });
}

}  // extern "C"
