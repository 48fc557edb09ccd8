// Routing the engine's log records to the host (mmh_log_set).

#include <memory>

#include "capi_internal.h"
#include "mmhook/core/log_callback.h"

extern "C" {

mmh_error_t* mmh_log_set_callback(mmh_log_fn fn, void* user_data, mmh_free_fn user_data_free) {
  // The holder frees user_data when the callback is replaced (the last copy goes away).
  struct Holder {
    Holder(void* d, mmh_free_fn f) : data(d), free_fn(f) {}
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    void* data;
    mmh_free_fn free_fn;
    ~Holder() {
      if (free_fn != nullptr) free_fn(data);
    }
  };
  if (fn == nullptr) {
    mmh_error_t* err = mmhook::capi::guard([] { mmhook::set_log_callback(nullptr); });
    if (user_data_free != nullptr) user_data_free(user_data);
    return err;
  }
  std::shared_ptr<Holder> holder;
  try {
    holder = std::make_shared<Holder>(user_data, user_data_free);
  } catch (...) {
    if (user_data_free != nullptr) user_data_free(user_data);
    return mmhook::capi::error_from_current_exception();
  }
  // If installing throws (only allocation can), the previous routing stays in place and
  // holder's destructor frees user_data.
  return mmhook::capi::guard([&] {
    mmhook::set_log_callback([fn, holder](int level, const std::string& message) {
      fn(level, message.c_str(), holder->data);
    });
  });
}

}  // extern "C"
