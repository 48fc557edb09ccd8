// Batch-level datasets of the C ABI: one host call fills a whole batch, into buffers the
// library allocates per declared field (no per-sample call, no copy after the host's writes).

#include <cstring>
#include <string>
#include <vector>

#include <ATen/dlpack.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>

#include "capi_internal.h"
#include "mmhook/data/dataset.h"

using mmhook::capi::guard;
using mmhook::capi::make_error;

namespace mmhook::capi {

/// A declared field of a batch dataset, copied out of the caller's declaration.
struct BatchField {
  std::string key;
  c10::ScalarType dtype;
  std::vector<int64_t> shape;  // per sample
};

}  // namespace mmhook::capi

/// The batch a fill call is writing: the declared fields' tensors, allocated on first use.
struct mmh_batch {
  const std::vector<mmhook::capi::BatchField>* fields = nullptr;
  std::vector<at::Tensor> tensors;  // one per declared field; undefined until fetched
  std::vector<char> from_dlpack;    // per field: set with mmh_batch_set_dlpack
  int64_t n = 0;
  std::string last_error;  // why the last mmh_batch_* call failed, for the run's error
};

namespace mmhook::capi {

template <>
struct FirstVersion<mmh_batch_dataset_desc_t> {
  static constexpr size_t size =
      offsetof(mmh_batch_dataset_desc_t, user_data_free) + sizeof(mmh_free_fn);
  static constexpr const char* name = "mmh_batch_dataset_desc_t";
};
template <>
struct FirstVersion<mmh_batch_field_t> {
  static constexpr size_t size = offsetof(mmh_batch_field_t, ndim) + sizeof(size_t);
  static constexpr const char* name = "mmh_batch_field_t";
};
template <>
inline mmh_batch_dataset_desc_t versioned_defaults<mmh_batch_dataset_desc_t>() noexcept {
  mmh_batch_dataset_desc_t d{};
  d.struct_size = sizeof(d);
  return d;
}
template <>
inline mmh_batch_field_t versioned_defaults<mmh_batch_field_t>() noexcept {
  mmh_batch_field_t f{};
  f.struct_size = sizeof(f);
  f.dtype = MMH_DTYPE_F32;
  return f;
}

}  // namespace mmhook::capi

using mmhook::capi::BatchField;

using mmhook::capi::OwnedUserData;

namespace {

class CBatchDataset final : public mmhook::Dataset {
 public:
  CBatchDataset(std::shared_ptr<OwnedUserData> owner, mmh_batch_dataset_desc_t desc,
                std::string type, std::shared_ptr<const std::vector<BatchField>> fields)
      : owner_(std::move(owner)), desc_(desc), type_(std::move(type)), fields_(std::move(fields)) {}

  int64_t size() const override { return desc_.len(desc_.user_data); }

  mmhook::TensorDict get(int64_t index, uint64_t sample_seed) const override {
    mmhook::TensorDict batch = get_batch({index}, {sample_seed});
    mmhook::TensorDict out;
    for (const auto& kv : batch) out.set(kv.first, kv.second[0]);
    return out;
  }

  mmhook::TensorDict get_batch(const std::vector<int64_t>& indices,
                               const std::vector<uint64_t>& sample_seeds) const override {
    MMHOOK_CHECK(indices.size() == sample_seeds.size(), "batch dataset type '", type_,
                 "', fill: ", indices.size(), " indices but ", sample_seeds.size(), " seeds");
    mmh_batch_t batch;
    batch.fields = fields_.get();
    batch.n = static_cast<int64_t>(indices.size());
    batch.tensors.resize(fields_->size());
    batch.from_dlpack.assign(fields_->size(), 0);
    const mmh_code_t code =
        desc_.fill(indices.data(), sample_seeds.data(), indices.size(), &batch, desc_.user_data);
    if (code != MMH_OK) {
      // A number outside mmh_code_t would reach the host as a code it cannot interpret.
      const bool known = code > MMH_OK && code <= MMH_E_CANCELLED;
      const std::string why =
          batch.last_error.empty() ? std::string() : " (" + batch.last_error + ")";
      if (!known)
        MMHOOK_THROW(mmhook::Code::kInternal, "batch dataset type '", type_, "', fill of ",
                     indices.size(), " samples: returned ", code, ", which is not an mmh_code_t",
                     why);
      MMHOOK_THROW(static_cast<mmhook::Code>(code), "batch dataset type '", type_, "', fill of ",
                   indices.size(), " samples: returned code ", code, why);
    }
    mmhook::TensorDict out;
    for (size_t f = 0; f < fields_->size(); ++f) {
      const BatchField& field = (*fields_)[f];
      MMHOOK_CHECK(batch.tensors[f].defined(), "batch dataset type '", type_, "', field '",
                   field.key, "', fill: returned MMH_OK without filling the field (call ",
                   "mmh_batch_get_buffer or mmh_batch_set_dlpack for every field)");
      out.set(field.key, batch.tensors[f]);
    }
    return out;
  }

 private:
  std::shared_ptr<OwnedUserData>
      owner_;  // keeps user_data alive while a dataset built from it lives
  mmh_batch_dataset_desc_t desc_;
  std::string type_;
  std::shared_ptr<const std::vector<BatchField>> fields_;
};

/// The fields of a registration, checked; throws an invalid-argument Error naming the field.
std::vector<BatchField> read_fields(const std::string& type, const mmh_batch_dataset_desc_t& desc) {
  MMHOOK_CHECK(desc.fields != nullptr && desc.num_fields > 0, "batch dataset type '", type,
               "', registration: ", desc.fields == nullptr ? "fields is NULL" : "num_fields is 0");
  std::vector<BatchField> out;
  out.reserve(desc.num_fields);
  for (size_t i = 0; i < desc.num_fields; ++i) {
    const mmh_batch_field_t* in = desc.fields[i];
    MMHOOK_CHECK(in != nullptr, "batch dataset type '", type, "', field ", i,
                 ", registration: the field is NULL");
    if (in->struct_size < mmhook::capi::FirstVersion<mmh_batch_field_t>::size)
      MMHOOK_THROW(mmhook::Code::kAbi, "batch dataset type '", type, "', field ", i,
                   ", registration: mmh_batch_field_t.struct_size ", in->struct_size, " is below ",
                   mmhook::capi::FirstVersion<mmh_batch_field_t>::size,
                   ", the size of its first version; call mmh_batch_field_init");
    const mmh_batch_field_t f =
        mmhook::capi::read_versioned(in, mmhook::capi::versioned_defaults<mmh_batch_field_t>());
    MMHOOK_CHECK(f.key != nullptr && f.key[0] != '\0', "batch dataset type '", type, "', field ", i,
                 ", registration: the key is ", f.key == nullptr ? "NULL" : "empty");
    MMHOOK_CHECK(mmhook::capi::is_utf8(f.key), "batch dataset type '", type, "', field ", i,
                 ", registration: the key is not valid UTF-8");
    BatchField field;
    field.key = f.key;
    for (const BatchField& earlier : out)
      MMHOOK_CHECK(earlier.key != field.key, "batch dataset type '", type, "', field '", field.key,
                   "', registration: the key is declared twice");
    MMHOOK_CHECK(mmhook::capi::scalar_type_of(f.dtype, &field.dtype), "batch dataset type '", type,
                 "', field '", field.key, "', registration: unknown dtype ", f.dtype,
                 " (one of MMH_DTYPE_U8, _I32, _I64, _F32, _F64)");
    MMHOOK_CHECK(f.ndim == 0 || f.shape != nullptr, "batch dataset type '", type, "', field '",
                 field.key, "', registration: shape is NULL but ndim is ", f.ndim);
    for (size_t d = 0; d < f.ndim; ++d) {
      MMHOOK_CHECK(f.shape[d] >= 0, "batch dataset type '", type, "', field '", field.key,
                   "', registration: negative size ", f.shape[d], " in dimension ", d);
      field.shape.push_back(f.shape[d]);
    }
    out.push_back(std::move(field));
  }
  return out;
}

/// The DLPack dtype of a field dtype.
bool same_dl_dtype(const DLDataType& dl, c10::ScalarType t) {
  if (dl.lanes != 1) return false;
  switch (t) {
    case c10::ScalarType::Byte: return dl.code == kDLUInt && dl.bits == 8;
    case c10::ScalarType::Int: return dl.code == kDLInt && dl.bits == 32;
    case c10::ScalarType::Long: return dl.code == kDLInt && dl.bits == 64;
    case c10::ScalarType::Float: return dl.code == kDLFloat && dl.bits == 32;
    case c10::ScalarType::Double: return dl.code == kDLFloat && dl.bits == 64;
    default: return false;
  }
}

/// Owns a DLManagedTensor handed to the library: its deleter runs exactly once, when the last
/// tensor viewing its memory is freed (or at once when it is refused).
struct DLOwner {
  explicit DLOwner(DLManagedTensor* t) : tensor(t) {}
  DLOwner(const DLOwner&) = delete;
  DLOwner& operator=(const DLOwner&) = delete;
  ~DLOwner() {
    if (tensor->deleter != nullptr) tensor->deleter(tensor);
  }
  DLManagedTensor* tensor;
};

/// Checks a DLPack tensor against field `f` of a batch of `n` samples; throws an Error saying
/// what differs.
void check_dlpack(const DLTensor& t, const BatchField& f, int64_t n) {
  MMHOOK_CHECK(t.device.device_type == kDLCPU, "the DLPack tensor is on device type ",
               static_cast<int>(t.device.device_type), "; only CPU memory (kDLCPU) is accepted");
  MMHOOK_CHECK(same_dl_dtype(t.dtype, f.dtype), "the DLPack tensor has dtype (code ",
               static_cast<int>(t.dtype.code), ", bits ", static_cast<int>(t.dtype.bits),
               ", lanes ", t.dtype.lanes, "), the field is declared ", c10::toString(f.dtype));
  MMHOOK_CHECK(t.ndim == static_cast<int>(f.shape.size()) + 1, "the DLPack tensor has ", t.ndim,
               " dimensions, the field has ", f.shape.size() + 1, " (batch + per-sample shape)");
  MMHOOK_CHECK(t.shape != nullptr, "the DLPack tensor's shape is NULL");
  MMHOOK_CHECK(t.shape[0] == n, "the DLPack tensor has batch size ", t.shape[0], ", expected ", n,
               " (the n of this fill)");
  for (size_t d = 0; d < f.shape.size(); ++d)
    MMHOOK_CHECK(t.shape[d + 1] == f.shape[d], "the DLPack tensor has size ", t.shape[d + 1],
                 " in dimension ", d + 1, ", the field is declared ", f.shape[d]);
  int64_t numel = 1;
  for (int d = 0; d < t.ndim; ++d) numel *= t.shape[d];
  MMHOOK_CHECK(numel == 0 || t.data != nullptr, "the DLPack tensor's data is NULL");
}

}  // namespace

extern "C" {

void mmh_batch_field_init(mmh_batch_field_t* field, size_t struct_size) {
  mmhook::capi::init_versioned(field, struct_size);
}

void mmh_batch_dataset_desc_init(mmh_batch_dataset_desc_t* desc, size_t struct_size) {
  mmhook::capi::init_versioned(desc, struct_size);
}

mmh_error_t* mmh_batch_dataset_type_register(const char* name,
                                             const mmh_batch_dataset_desc_t* desc_in) {
  if (desc_in == nullptr) return mmhook::capi::null_argument("desc");
  if (mmh_error_t* err = mmhook::capi::check_struct_size(desc_in)) return err;
  const mmh_batch_dataset_desc_t desc = mmhook::capi::read_versioned(
      desc_in, mmhook::capi::versioned_defaults<mmh_batch_dataset_desc_t>());
  std::shared_ptr<OwnedUserData> owner;
  try {
    owner = std::make_shared<OwnedUserData>(desc.user_data, desc.user_data_free);
  } catch (...) {
    if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
    return mmhook::capi::oom_error();
  }
  // From here on `owner` frees user_data on every error path.
  if (name == nullptr || name[0] == '\0')
    return make_error(MMH_E_INVALID_ARGUMENT, "batch dataset type name is NULL or empty");
  if (!mmhook::capi::is_utf8(name))
    return make_error(MMH_E_INVALID_ARGUMENT, "batch dataset type name is not valid UTF-8");
  return guard([&] {
    const std::string type = name;
    MMHOOK_CHECK(desc.len != nullptr && desc.fill != nullptr, "batch dataset type '", type,
                 "', registration: ", desc.len == nullptr ? "len" : "fill", " is NULL");
    auto fields = std::make_shared<const std::vector<BatchField>>(read_fields(type, desc));
    mmhook::capi::add_c_dataset_type(
        type,
        [owner, desc, type,
         fields](const mmhook::ConfigNode& cfg) -> std::shared_ptr<mmhook::Dataset> {
          for (auto it = cfg.json().begin(); it != cfg.json().end(); ++it) cfg.mark_used(it.key());
          return std::make_shared<CBatchDataset>(owner, desc, type, fields);
        });
  });
}

mmh_error_t* mmh_batch_get_buffer(mmh_batch_t* batch, size_t field, void** data_out,
                                  size_t* numel_out) {
  if (batch == nullptr) return mmhook::capi::null_argument("batch");
  if (data_out == nullptr) return mmhook::capi::null_argument("data_out");
  if (numel_out == nullptr) return mmhook::capi::null_argument("numel_out");
  mmh_error_t* err = guard([&] {
    MMHOOK_CHECK(field < batch->tensors.size(), "field index ", field, " is out of range (",
                 batch->tensors.size(), " fields declared)");
    at::Tensor& t = batch->tensors[field];
    MMHOOK_CHECK(batch->from_dlpack[field] == 0, "field '", (*batch->fields)[field].key,
                 "' was set with mmh_batch_set_dlpack");
    if (!t.defined()) {
      const BatchField& f = (*batch->fields)[field];
      std::vector<int64_t> sizes{batch->n};
      sizes.insert(sizes.end(), f.shape.begin(), f.shape.end());
      // Zeroed: the bindings hand it out as a typed slice, which must be initialised memory.
      t = at::zeros(sizes, at::TensorOptions().dtype(f.dtype));
    }
    *data_out = t.data_ptr();
    *numel_out = static_cast<size_t>(t.numel());
  });
  if (err != nullptr && err != mmhook::capi::oom_error()) {
    try {
      batch->last_error = "mmh_batch_get_buffer: " + err->message;
    } catch (...) {
      // Out of memory for the message: the code still tells the caller.
    }
  }
  return err;
}

mmh_error_t* mmh_batch_set_dlpack(mmh_batch_t* batch, size_t field, DLManagedTensor* tensor) {
  if (tensor == nullptr) return mmhook::capi::null_argument("tensor");
  std::shared_ptr<DLOwner> owner;
  try {
    owner = std::make_shared<DLOwner>(tensor);
  } catch (...) {
    if (tensor->deleter != nullptr) tensor->deleter(tensor);
    return mmhook::capi::oom_error();
  }
  // From here on `owner` runs the deleter once, whatever happens.
  if (batch == nullptr) return mmhook::capi::null_argument("batch");
  mmh_error_t* err = guard([&] {
    MMHOOK_CHECK(field < batch->tensors.size(), "field index ", field, " is out of range (",
                 batch->tensors.size(), " fields declared)");
    const BatchField& f = (*batch->fields)[field];
    const DLTensor& t = tensor->dl_tensor;
    try {
      check_dlpack(t, f, batch->n);
    } catch (const mmhook::Error& e) {
      MMHOOK_THROW(e.code(), "field '", f.key, "': ", e.what());
    }
    std::vector<int64_t> sizes(t.shape, t.shape + t.ndim);
    auto* data = static_cast<char*>(t.data) + t.byte_offset;
    const auto options = at::TensorOptions().dtype(f.dtype);
    auto deleter = [owner](void* /*data*/) mutable { owner.reset(); };
    at::Tensor out =
        t.strides == nullptr
            ? at::from_blob(data, sizes, deleter, options)
            : at::from_blob(data, sizes, std::vector<int64_t>(t.strides, t.strides + t.ndim),
                            deleter, options);
    batch->tensors[field] = std::move(out);
    batch->from_dlpack[field] = 1;
  });
  if (err != nullptr && err != mmhook::capi::oom_error()) {
    try {
      batch->last_error = "mmh_batch_set_dlpack: " + err->message;
    } catch (...) {
      // Out of memory for the message: the code still tells the caller.
    }
  }
  return err;
}

mmh_error_t* mmh_batch_set_error(mmh_batch_t* batch, const char* message) {
  if (batch == nullptr) return mmhook::capi::null_argument("batch");
  if (message == nullptr) return mmhook::capi::null_argument("message");
  if (!mmhook::capi::is_utf8(message))
    return make_error(MMH_E_INVALID_ARGUMENT, "message is not valid UTF-8");
  return guard([&] { batch->last_error = message; });
}

}  // extern "C"
