// Type registries of the C ABI: hooks and datasets implemented in C, named from configs.

#include <cstring>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "capi_internal.h"
#include "mmhook/data/dataset.h"
#include "mmhook/engine/priority.h"

using mmhook::capi::guard;
using mmhook::capi::make_error;

using mmhook::capi::OwnedUserData;

namespace {

enum class Kind { kHook, kDataset };

std::mutex& types_mutex() {
  static std::mutex m;
  return m;
}
/// The names registered from C, per registry: a hook type and a dataset type may share one.
std::set<std::string>& c_types(Kind kind) {
  static std::set<std::string> hooks;
  static std::set<std::string> datasets;
  return kind == Kind::kHook ? hooks : datasets;
}

class CDataset final : public mmhook::Dataset {
 public:
  CDataset(std::shared_ptr<OwnedUserData> owner, mmh_dataset_desc_t desc)
      : owner_(std::move(owner)), desc_(desc) {}
  int64_t size() const override { return desc_.len(desc_.user_data); }
  mmhook::TensorDict get(int64_t index, uint64_t sample_seed) const override {
    mmhook::TensorDict dict;
    mmh_sample_t sample{&dict, {}};
    const mmh_code_t code = desc_.get(index, sample_seed, &sample, desc_.user_data);
    if (code != MMH_OK) {
      // A number outside mmh_code_t would reach the host as a code it cannot interpret.
      const bool known = code > MMH_OK && code <= MMH_E_CANCELLED;
      const std::string why =
          sample.last_error.empty() ? std::string() : " (" + sample.last_error + ")";
      if (!known)
        MMHOOK_THROW(mmhook::Code::kInternal, "C dataset get(", index, ") returned ", code,
                     ", which is not an mmh_code_t", why);
      MMHOOK_THROW(static_cast<mmhook::Code>(code), "C dataset get(", index, ") returned code ",
                   code, why);
    }
    return dict;
  }

 private:
  std::shared_ptr<OwnedUserData>
      owner_;  // keeps user_data alive while a dataset built from it lives
  mmh_dataset_desc_t desc_;
};

template <class T>
mmh_error_t* set_array(mmh_sample_t* sample, const char* name, const T* data, const int64_t* shape,
                       size_t ndim, c10::ScalarType dtype) noexcept {
  if (sample == nullptr || sample->dict == nullptr) return mmhook::capi::null_argument("sample");
  if (name == nullptr) return mmhook::capi::null_argument("name");
  if (ndim > 0 && shape == nullptr)
    return mmhook::capi::make_error_with(MMH_E_INVALID_ARGUMENT, [&] {
      return "shape is NULL but ndim is " + std::to_string(ndim);
    });
  if (!mmhook::capi::is_utf8(name)) {
    sample->last_error = "a field name is not valid UTF-8";
    return make_error(MMH_E_INVALID_ARGUMENT, "the field name is not valid UTF-8");
  }
  mmh_error_t* err = guard([&] {
    std::vector<int64_t> sizes(shape, shape + ndim);
    int64_t numel = 1;
    for (int64_t s : sizes) {
      MMHOOK_CHECK(s >= 0, "negative dimension ", s);
      numel *= s;
    }
    MMHOOK_CHECK(numel == 0 || data != nullptr, "data is NULL");
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(dtype));
    if (numel > 0) std::memcpy(t.data_ptr(), data, static_cast<size_t>(numel) * sizeof(T));
    sample->dict->set(name, t);
  });
  if (err != nullptr && err != mmhook::capi::oom_error()) {
    // Kept for the run's error too, in case `get` passes only the code on.
    try {
      sample->last_error = std::string("setting '") + name + "': " + err->message;
      err->message = sample->last_error;
    } catch (...) {
      // Out of memory for the message: the code still tells the caller.
    }
  }
  return err;
}

/// Removes a type registered from C from one registry; false if it has no such name.
bool unregister(Kind kind, const std::string& name) {
  std::lock_guard<std::mutex> lock(types_mutex());
  if (c_types(kind).erase(name) == 0) return false;
  if (kind == Kind::kHook) {
    mmhook::hook_registry().remove(name);
  } else {
    mmhook::dataset_registry().remove(name);
  }
  return true;
}

mmh_error_t* unregister_c_type(Kind kind, const char* name) noexcept {
  if (name == nullptr) return mmhook::capi::null_argument("name");
  return guard([&] {
    if (unregister(kind, name)) return;
    const Kind other = kind == Kind::kHook ? Kind::kDataset : Kind::kHook;
    bool other_has = false;
    {
      std::lock_guard<std::mutex> lock(types_mutex());
      other_has = c_types(other).count(name) > 0;
    }
    const char* what = kind == Kind::kHook ? "hook" : "dataset";
    const char* other_what = kind == Kind::kHook ? "dataset" : "hook";
    MMHOOK_THROW(
        mmhook::Code::kNotFound, "no ", what, " type named '", name, "' was registered from C",
        other_has ? std::string(" (a ") + other_what + " type has that name)" : std::string());
  });
}

}  // namespace

void mmhook::capi::add_c_dataset_type(const std::string& name,
                                      mmhook::Registry<mmhook::Dataset>::Factory factory) {
  std::lock_guard<std::mutex> lock(types_mutex());
  mmhook::dataset_registry().add(name, std::move(factory));
  c_types(Kind::kDataset).insert(name);
}

extern "C" {

mmh_error_t* mmh_hook_type_register(const char* name, mmh_hook_factory_fn factory, void* user_data,
                                    mmh_free_fn user_data_free) {
  std::shared_ptr<OwnedUserData> owner;
  try {
    owner = std::make_shared<OwnedUserData>(user_data, user_data_free);
  } catch (...) {
    if (user_data_free != nullptr) user_data_free(user_data);
    return mmhook::capi::oom_error();
  }
  if (name == nullptr || name[0] == '\0' || factory == nullptr)
    return make_error(MMH_E_INVALID_ARGUMENT, "name or factory is NULL");
  if (!mmhook::capi::is_utf8(name))
    return make_error(MMH_E_INVALID_ARGUMENT, "name is not valid UTF-8");
  return guard([&] {
    std::lock_guard<std::mutex> lock(types_mutex());
    mmhook::hook_registry().add(
        name,
        [owner, factory,
         type = std::string(name)](const mmhook::ConfigNode& cfg) -> std::shared_ptr<mmhook::Hook> {
          // The factory sees the whole entry and reads the options itself.
          for (auto it = cfg.json().begin(); it != cfg.json().end(); ++it) cfg.mark_used(it.key());
          mmh_hook_desc_t desc;
          mmh_hook_desc_init(&desc, sizeof(desc));
          desc.name = nullptr;
          const std::string entry = cfg.json().dump();
          const mmh_code_t code = factory(entry.c_str(), &desc, owner->data);
          if (code != MMH_OK) {
            if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
            cfg.fail("", "the C factory of hook type '" + type + "' failed with code " +
                             std::to_string(code));
          }
          if (desc.fn == nullptr) {
            if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
            cfg.fail("", "the C factory of hook type '" + type + "' left fn NULL");
          }
          if (desc.name != nullptr && !mmhook::capi::is_utf8(desc.name)) {
            if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
            cfg.fail("", "the C factory of hook type '" + type + "' gave a name that is not UTF-8");
          }
          std::string hook_name = desc.name != nullptr ? desc.name : type;
          desc.name = hook_name.c_str();
          if ((desc.stages & ~static_cast<uint64_t>(MMH_STAGES_ALL)) != 0 ||
              !mmhook::is_valid_priority(desc.priority)) {
            if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
            cfg.fail("", "the C factory of hook type '" + type + "' gave bad stages or priority");
          }
          return mmhook::capi::make_c_hook(desc);
        });
    c_types(Kind::kHook).insert(name);
  });
}

mmh_error_t* mmh_hook_type_unregister(const char* name) {
  return unregister_c_type(Kind::kHook, name);
}

void mmh_dataset_desc_init(mmh_dataset_desc_t* desc, size_t struct_size) {
  mmhook::capi::init_versioned(desc, struct_size);
}

mmh_error_t* mmh_dataset_type_register(const char* name, const mmh_dataset_desc_t* desc_in) {
  if (desc_in == nullptr) return mmhook::capi::null_argument("desc");
  // A struct_size from the first version on is read; fields it does not cover take defaults.
  if (mmh_error_t* err = mmhook::capi::check_struct_size(desc_in)) return err;
  const mmh_dataset_desc_t desc =
      mmhook::capi::read_versioned(desc_in, mmhook::capi::versioned_defaults<mmh_dataset_desc_t>());
  std::shared_ptr<OwnedUserData> owner;
  try {
    owner = std::make_shared<OwnedUserData>(desc.user_data, desc.user_data_free);
  } catch (...) {
    if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
    return mmhook::capi::oom_error();
  }
  if (name == nullptr || name[0] == '\0' || desc.len == nullptr || desc.get == nullptr)
    return make_error(MMH_E_INVALID_ARGUMENT, "name, len or get is NULL");
  if (!mmhook::capi::is_utf8(name))
    return make_error(MMH_E_INVALID_ARGUMENT, "name is not valid UTF-8");
  return guard([&] {
    std::lock_guard<std::mutex> lock(types_mutex());
    mmhook::dataset_registry().add(
        name, [owner, desc](const mmhook::ConfigNode& cfg) -> std::shared_ptr<mmhook::Dataset> {
          for (auto it = cfg.json().begin(); it != cfg.json().end(); ++it) cfg.mark_used(it.key());
          return std::make_shared<CDataset>(owner, desc);
        });
    c_types(Kind::kDataset).insert(name);
  });
}

mmh_error_t* mmh_dataset_type_unregister(const char* name) {
  return unregister_c_type(Kind::kDataset, name);
}

mmh_error_t* mmh_sample_set_array_f32(mmh_sample_t* sample, const char* name, const float* data,
                                      const int64_t* shape, size_t ndim) {
  return set_array(sample, name, data, shape, ndim, c10::ScalarType::Float);
}

mmh_error_t* mmh_sample_set_array_i64(mmh_sample_t* sample, const char* name, const int64_t* data,
                                      const int64_t* shape, size_t ndim) {
  return set_array(sample, name, data, shape, ndim, c10::ScalarType::Long);
}

}  // extern "C"
