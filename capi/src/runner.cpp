// Runner handles of the C ABI.

#include <nlohmann/json.hpp>

#include "capi_internal.h"
#include "mmhook/config/json_parse.h"
#include "mmhook/engine/hook_timing_json.h"
#include "mmhook/engine/priority.h"
#include "mmhook/logging/message_hub.h"

using mmhook::capi::guard;
using mmhook::capi::make_error;
using mmhook::capi::RunnerState;

namespace {

// Marks a runner busy for the duration of a train/val/test call (calls must not overlap).
class Busy {
 public:
  explicit Busy(mmh_runner_t* r) : r_(r) {
    RunnerState expected = RunnerState::kIdle;
    if (!r_->state.compare_exchange_strong(expected, RunnerState::kRunning))
      MMHOOK_THROW(
          mmhook::Code::kFailedPrecondition,
          expected == RunnerState::kDestroyPending
              ? "the runner is being destroyed (mmh_runner_destroy was called during a run)"
              : "the runner is already running (calls on one runner must not overlap)");
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  // Leaves the running state; false when a destroy was requested meanwhile, which the caller
  // must then carry out once nothing of the call touches the handle any more.
  bool release() {
    if (!r_) return true;
    RunnerState expected = RunnerState::kRunning;
    const bool idle = r_->state.compare_exchange_strong(expected, RunnerState::kIdle);
    r_ = nullptr;
    return idle;
  }
  ~Busy() { release(); }

 private:
  mmh_runner_t* r_;
};

template <class F>
mmh_error_t* run(mmh_runner_t* runner, F&& body) noexcept {
  if (runner == nullptr || !runner->runner)
    return make_error(MMH_E_INVALID_ARGUMENT, "runner is NULL");
  bool destroy = false;
  mmh_error_t* err = guard([&] {
    Busy busy(runner);
    try {
      body(*runner->runner);
    } catch (...) {
      destroy = !busy.release();
      throw;
    }
    destroy = !busy.release();
  });
  if (destroy) {
    try {
      delete runner;
    } catch (...) {
      // As in mmh_runner_destroy: a user_data_free that throws cannot be reported.
    }
  }
  return err;
}

void free_user_data(const mmh_hook_desc_t* desc) noexcept {
  if (desc != nullptr && desc->user_data_free != nullptr) desc->user_data_free(desc->user_data);
}

/// A text getter of the runner: checks the arguments, computes the text (any exception becomes
/// the returned error; buf and *len_out are then untouched) and writes it out.
template <class F>
mmh_error_t* get_text(const mmh_runner_t* runner, char* buf, size_t cap, size_t* len_out,
                      F&& text) noexcept {
  if (runner == nullptr || !runner->runner) return mmhook::capi::null_argument("runner");
  if (mmh_error_t* err = mmhook::capi::check_out_buffer(buf, cap, len_out)) return err;
  return guard([&] {
    const std::string t = text(*runner->runner);
    mmhook::capi::write_out(t, buf, cap, len_out);
  });
}

/// What registering a hook under a taken name does: the one rule (a `_<n>` suffix, as for
/// config entries), or the deprecated mmh_runner_register_hook's refusal.
enum class TakenName { kSuffix, kRefuse };

/// mmh_runner_add_hook and mmh_runner_register_hook. user_data_free runs on every error after
/// which the struct's layout is known.
mmh_error_t* add_hook(mmh_runner_t* runner, const mmh_hook_desc_t* desc_in, TakenName taken,
                      char* name_buf, size_t name_cap, size_t* name_len_out) noexcept {
  if (desc_in == nullptr) return mmhook::capi::null_argument("desc");
  // Too old a layout to even know where user_data_free lives: it cannot be called safely.
  if (mmh_error_t* err = mmhook::capi::check_struct_size(desc_in)) return err;
  const mmh_hook_desc_t desc =
      mmhook::capi::read_versioned(desc_in, mmhook::capi::versioned_defaults<mmh_hook_desc_t>());
  mmh_error_t* err = nullptr;
  try {
    if (runner == nullptr || !runner->runner) {
      err = mmhook::capi::null_argument("runner");
    } else if (name_buf == nullptr && name_cap > 0) {
      err = make_error(MMH_E_INVALID_ARGUMENT,
                       "name_buf is NULL but name_cap is " + std::to_string(name_cap));
    } else if (desc.fn == nullptr) {
      err = make_error(MMH_E_INVALID_ARGUMENT, "mmh_hook_desc_t.fn is NULL");
    } else if (desc.name == nullptr || desc.name[0] == '\0') {
      err = make_error(MMH_E_INVALID_ARGUMENT, "mmh_hook_desc_t.name is NULL or empty");
    } else if (!mmhook::capi::is_utf8(desc.name)) {
      err = make_error(MMH_E_INVALID_ARGUMENT, "mmh_hook_desc_t.name is not valid UTF-8");
    } else if (!mmhook::is_valid_priority(desc.priority)) {
      err = make_error(MMH_E_INVALID_ARGUMENT, "hook '" + std::string(desc.name) +
                                                   "': priority must be between 0 and 100, got " +
                                                   std::to_string(desc.priority));
    } else if ((desc.stages & ~static_cast<uint64_t>(MMH_STAGES_ALL)) != 0) {
      err = make_error(MMH_E_INVALID_ARGUMENT, "hook '" + std::string(desc.name) +
                                                   "': stages has bits beyond MMH_STAGE_COUNT");
    } else if (runner->running()) {
      err = make_error(MMH_E_FAILED_PRECONDITION,
                       "cannot register hooks while the runner is running");
    } else if (taken == TakenName::kRefuse && runner->runner->find_hook(desc.name) != nullptr) {
      err = make_error(MMH_E_INVALID_ARGUMENT,
                       "a hook named '" + std::string(desc.name) + "' is already registered");
    }
  } catch (...) {
    err = mmhook::capi::error_from_current_exception();
  }
  if (err != nullptr) {
    free_user_data(&desc);
    return err;
  }
  std::shared_ptr<mmhook::Hook> hook;
  try {
    hook = mmhook::capi::make_c_hook(desc);  // owns user_data from here on
  } catch (...) {
    free_user_data(&desc);
    return mmhook::capi::error_from_current_exception();
  }
  // From here the hook owns user_data: if registration throws, its destructor frees it. The
  // dispatcher gives a taken name its `_<n>` suffix.
  return guard([&] {
    runner->runner->register_hook(hook, desc.priority);
    if (name_len_out != nullptr)
      mmhook::capi::write_out(hook->name(), name_buf, name_cap, name_len_out);
  });
}

}  // namespace

extern "C" {

mmh_error_t* mmh_runner_create(const char* config_json, mmh_runner_t** out) {
  if (out == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (config_json == nullptr) return make_error(MMH_E_INVALID_ARGUMENT, "config_json is NULL");
  return guard([&] {
    const nlohmann::json cfg = mmhook::parse_config_text(config_json, "config_json");
    auto handle = std::make_unique<mmh_runner_t>();
    handle->runner = std::make_unique<mmhook::Runner>(cfg);
    *out = handle.release();
  });
}

void mmh_runner_destroy(mmh_runner_t* runner) {
  if (runner == nullptr) return;
  // During a train/val/test call (from one of its hooks, or another thread) the handle is still
  // in use: ask the run to stop and let the call delete the handle when it returns.
  for (;;) {
    RunnerState s = runner->state.load();
    if (s == RunnerState::kDestroyPending) return;  // already requested
    if (s == RunnerState::kRunning) {
      if (runner->runner) runner->runner->request_stop();
      if (runner->state.compare_exchange_strong(s, RunnerState::kDestroyPending)) return;
      continue;  // the call ended meanwhile
    }
    break;
  }
  try {
    delete runner;
  } catch (...) {
    // A hook's user_data_free or a log sink threw: nothing can be reported from a destructor.
  }
}

void mmh_hook_desc_init(mmh_hook_desc_t* desc, size_t struct_size) {
  mmhook::capi::init_versioned(desc, struct_size);
}

mmh_error_t* mmh_runner_add_hook(mmh_runner_t* runner, const mmh_hook_desc_t* desc, char* name_buf,
                                 size_t name_cap, size_t* name_len_out) {
  return add_hook(runner, desc, TakenName::kSuffix, name_buf, name_cap, name_len_out);
}

mmh_error_t* mmh_runner_register_hook(mmh_runner_t* runner, const mmh_hook_desc_t* desc) {
  return add_hook(runner, desc, TakenName::kRefuse, nullptr, 0, nullptr);
}

mmh_error_t* mmh_runner_remove_hook(mmh_runner_t* runner, const char* name) {
  if (runner == nullptr || !runner->runner || name == nullptr)
    return make_error(MMH_E_INVALID_ARGUMENT, "runner or name is NULL");
  if (runner->running())
    return make_error(MMH_E_FAILED_PRECONDITION, "cannot remove hooks while the runner is running");
  return guard([&] {
    if (!runner->runner->dispatcher().remove(name))
      MMHOOK_THROW(mmhook::Code::kNotFound, "no hook named '", name, "'");
  });
}

mmh_error_t* mmh_runner_train(mmh_runner_t* runner) {
  return run(runner, [](mmhook::Runner& r) { r.train(); });
}

mmh_error_t* mmh_runner_val(mmh_runner_t* runner) {
  return run(runner, [](mmhook::Runner& r) { r.val(); });
}

mmh_error_t* mmh_runner_test(mmh_runner_t* runner) {
  return run(runner, [](mmhook::Runner& r) { r.test(); });
}

void mmh_runner_request_stop(mmh_runner_t* runner) {
  if (runner != nullptr && runner->runner) runner->runner->request_stop();
}

mmh_error_t* mmh_runner_get_hooks_info(const mmh_runner_t* runner, char* buf, size_t cap,
                                       size_t* len_out) {
  return get_text(runner, buf, cap, len_out, [](mmhook::Runner& r) { return r.get_hooks_info(); });
}

mmh_error_t* mmh_runner_get_metrics_json(const mmh_runner_t* runner, char* buf, size_t cap,
                                         size_t* len_out) {
  return get_text(runner, buf, cap, len_out, [](mmhook::Runner& r) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [k, v] : r.last_metrics()) out[k] = v;
    return out.dump();
  });
}

mmh_error_t* mmh_runner_get_hook_timing_json(const mmh_runner_t* runner, char* buf, size_t cap,
                                             size_t* len_out) {
  return get_text(runner, buf, cap, len_out, [](mmhook::Runner& r) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& t : r.dispatcher().timings()) out.push_back(mmhook::hook_timing_to_json(t));
    return out.dump();
  });
}

mmh_error_t* mmh_runner_get_last_checkpoint(const mmh_runner_t* runner, char* buf, size_t cap,
                                            size_t* len_out) {
  return get_text(runner, buf, cap, len_out, [](mmhook::Runner& r) {
    const nlohmann::json v = r.message_hub().get_info("last_ckpt", nullptr);
    return v.is_string() ? v.get<std::string>() : std::string();
  });
}

mmh_error_t* mmh_runner_get_epoch(const mmh_runner_t* runner, int64_t* out) {
  if (runner == nullptr || !runner->runner) return mmhook::capi::null_argument("runner");
  if (out == nullptr) return mmhook::capi::null_argument("out");
  return guard([&] { *out = runner->runner->epoch(); });
}

mmh_error_t* mmh_runner_get_iter(const mmh_runner_t* runner, int64_t* out) {
  if (runner == nullptr || !runner->runner) return mmhook::capi::null_argument("runner");
  if (out == nullptr) return mmhook::capi::null_argument("out");
  return guard([&] { *out = runner->runner->iter(); });
}

}  // extern "C"
