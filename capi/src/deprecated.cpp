// The entry points written before the C ABI's convention (docs/c_api.md, "Conventions"): each
// is a thin wrapper of its replacement that keeps its old contract (an mmh_code_t instead of
// an error, or a -1/0/"" sentinel), so existing callers keep working. They stay exported;
// mmhook.h marks them MMH_DEPRECATED. (mmh_runner_register_hook lives in runner.cpp, next to
// the registration it shares with mmh_runner_add_hook.)

#include "capi_internal.h"

using mmhook::capi::copy_out;
using mmhook::capi::take_code;

namespace {

using TextGetter = mmh_error_t* (*)(const mmh_runner_t*, char*, size_t, size_t*);

// The old text getters: the length of `fallback` (written into buf) on any failure. A NULL buf
// was accepted with any cap.
size_t text_or(TextGetter get, const mmh_runner_t* runner, char* buf, size_t cap,
               const char* fallback) noexcept {
  if (buf == nullptr) cap = 0;
  size_t len = 0;
  mmh_error_t* err = get(runner, buf, cap, &len);
  if (err == nullptr) return len;
  mmh_error_free(err);
  return copy_out(fallback, buf, cap);
}

// The old int64 getters: `fallback` on any failure.
template <class T, class Ctx>
T value_or(mmh_error_t* (*get)(const Ctx*, T*), const Ctx* handle, T fallback) noexcept {
  T value = fallback;
  mmh_error_t* err = get(handle, &value);
  if (err == nullptr) return value;
  mmh_error_free(err);
  return fallback;
}

}  // namespace

extern "C" {

// -- runner getters ---------------------------------------------------------------------------

size_t mmh_runner_hooks_info(const mmh_runner_t* runner, char* buf, size_t cap) {
  return text_or(mmh_runner_get_hooks_info, runner, buf, cap, "");
}

size_t mmh_runner_metrics_json(const mmh_runner_t* runner, char* buf, size_t cap) {
  return text_or(mmh_runner_get_metrics_json, runner, buf, cap, "{}");
}

size_t mmh_runner_hook_timing_json(const mmh_runner_t* runner, char* buf, size_t cap) {
  return text_or(mmh_runner_get_hook_timing_json, runner, buf, cap, "[]");
}

size_t mmh_runner_last_checkpoint(const mmh_runner_t* runner, char* buf, size_t cap) {
  return text_or(mmh_runner_get_last_checkpoint, runner, buf, cap, "");
}

int64_t mmh_runner_epoch(const mmh_runner_t* runner) {
  return value_or<int64_t>(mmh_runner_get_epoch, runner, 0);
}

int64_t mmh_runner_iter(const mmh_runner_t* runner) {
  return value_or<int64_t>(mmh_runner_get_iter, runner, 0);
}

// -- hook ctx ---------------------------------------------------------------------------------

mmh_stage_t mmh_ctx_stage(const mmh_hook_ctx_t* ctx) {
  return value_or<mmh_stage_t>(mmh_hook_ctx_get_stage, ctx, -1);
}

int64_t mmh_ctx_epoch(const mmh_hook_ctx_t* ctx) {
  return value_or<int64_t>(mmh_hook_ctx_get_epoch, ctx, -1);
}

int64_t mmh_ctx_iter(const mmh_hook_ctx_t* ctx) {
  return value_or<int64_t>(mmh_hook_ctx_get_iter, ctx, -1);
}

int64_t mmh_ctx_batch_idx(const mmh_hook_ctx_t* ctx) {
  return value_or<int64_t>(mmh_hook_ctx_get_batch_idx, ctx, -1);
}

int64_t mmh_ctx_max_epochs(const mmh_hook_ctx_t* ctx) {
  return value_or<int64_t>(mmh_hook_ctx_get_max_epochs, ctx, -1);
}

int64_t mmh_ctx_max_iters(const mmh_hook_ctx_t* ctx) {
  return value_or<int64_t>(mmh_hook_ctx_get_max_iters, ctx, -1);
}

mmh_code_t mmh_ctx_scalar(const mmh_hook_ctx_t* ctx, const char* key, double* out) {
  return take_code(mmh_hook_ctx_get_scalar(ctx, key, out));
}

mmh_code_t mmh_ctx_update_scalar(mmh_hook_ctx_t* ctx, const char* key, double value) {
  return take_code(mmh_hook_ctx_update_scalar(ctx, key, value));
}

size_t mmh_ctx_metric_count(const mmh_hook_ctx_t* ctx) {
  return value_or<size_t>(mmh_hook_ctx_get_metric_count, ctx, 0);
}

mmh_code_t mmh_ctx_metric_at(const mmh_hook_ctx_t* ctx, size_t i, const char** out_name,
                             double* out_value) {
  return take_code(mmh_hook_ctx_get_metric(ctx, i, out_name, out_value));
}

size_t mmh_ctx_param_group_count(const mmh_hook_ctx_t* ctx) {
  return value_or<size_t>(mmh_hook_ctx_get_param_group_count, ctx, 0);
}

mmh_code_t mmh_ctx_lr(const mmh_hook_ctx_t* ctx, size_t group, double* out) {
  return take_code(mmh_hook_ctx_get_lr(ctx, group, out));
}

mmh_code_t mmh_ctx_set_lr(mmh_hook_ctx_t* ctx, size_t group, double lr) {
  return take_code(mmh_hook_ctx_set_lr(ctx, group, lr));
}

mmh_code_t mmh_ctx_tensor(const mmh_hook_ctx_t* ctx, const char* key, const mmh_tensor_t** out) {
  return take_code(mmh_hook_ctx_get_tensor(ctx, key, out));
}

mmh_code_t mmh_ctx_set_error(mmh_hook_ctx_t* ctx, const char* message) {
  return take_code(mmh_hook_ctx_set_error(ctx, message));
}

mmh_code_t mmh_ctx_error_message(const mmh_hook_ctx_t* ctx, const char** out) {
  return take_code(mmh_hook_ctx_get_error_message(ctx, out));
}

mmh_code_t mmh_ctx_checkpoint_put(mmh_hook_ctx_t* ctx, const char* key, const void* data,
                                  size_t len) {
  return take_code(mmh_hook_ctx_put_checkpoint_state(ctx, key, data, len));
}

mmh_code_t mmh_ctx_checkpoint_get(const mmh_hook_ctx_t* ctx, const char* key, void* buf, size_t cap,
                                  size_t* out_len) {
  return take_code(mmh_hook_ctx_get_checkpoint_state(ctx, key, buf, cap, out_len));
}

// -- tensors ----------------------------------------------------------------------------------

size_t mmh_tensor_ndim(const mmh_tensor_t* t) {
  return value_or<size_t>(mmh_tensor_get_ndim, t, 0);
}

const int64_t* mmh_tensor_shape(const mmh_tensor_t* t) {
  return value_or<const int64_t*>(mmh_tensor_get_shape, t, nullptr);
}

size_t mmh_tensor_numel(const mmh_tensor_t* t) {
  return value_or<size_t>(mmh_tensor_get_numel, t, 0);
}

// -- type registries and samples --------------------------------------------------------------

mmh_error_t* mmh_register_hook_type(const char* name, mmh_hook_factory_fn factory, void* user_data,
                                    mmh_free_fn user_data_free) {
  return mmh_hook_type_register(name, factory, user_data, user_data_free);
}

mmh_error_t* mmh_register_dataset_type(const char* name, const mmh_dataset_desc_t* desc) {
  return mmh_dataset_type_register(name, desc);
}

mmh_error_t* mmh_unregister_type(const char* name) {
  // Both registries: the name alone cannot say which one the caller means.
  mmh_error_t* hook = mmh_hook_type_unregister(name);
  mmh_error_t* dataset = mmh_dataset_type_unregister(name);
  if (hook == nullptr || dataset == nullptr) {
    mmh_error_free(hook);
    mmh_error_free(dataset);
    return nullptr;
  }
  const bool neither =
      mmh_error_code(hook) == MMH_E_NOT_FOUND && mmh_error_code(dataset) == MMH_E_NOT_FOUND;
  mmh_error_free(dataset);
  if (!neither) return hook;
  mmh_error_free(hook);
  return mmhook::capi::make_error_with(MMH_E_NOT_FOUND, [&] {
    return std::string("no type named '") + name + "' was registered from C";
  });
}

mmh_code_t mmh_sample_set_f32(mmh_sample_t* sample, const char* name, const float* data,
                              const int64_t* shape, size_t ndim) {
  return take_code(mmh_sample_set_array_f32(sample, name, data, shape, ndim));
}

mmh_code_t mmh_sample_set_i64(mmh_sample_t* sample, const char* name, const int64_t* data,
                              const int64_t* shape, size_t ndim) {
  return take_code(mmh_sample_set_array_i64(sample, name, data, shape, ndim));
}

// -- logging ----------------------------------------------------------------------------------

void mmh_log_set(mmh_log_fn fn, void* user_data, mmh_free_fn user_data_free) {
  // On failure (out of memory) the previous routing stays in place, as it always did; the new
  // function has run user_data_free, which the old one leaked.
  mmh_error_free(mmh_log_set_callback(fn, user_data, user_data_free));
}

}  // extern "C"
