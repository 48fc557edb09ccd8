// C side of the cgo trampolines: the library calls these with `void *user_data`, which holds
// a runtime/cgo.Handle value (an integer, never a Go pointer); they forward it to the
// //export-ed Go functions of mmhook.go.
#include <stdint.h>

#include <mmhook.h>

#include "_cgo_export.h"

static mmh_hook_action_t mmhgo_hook_fn(mmh_hook_ctx_t *ctx, void *user_data) {
  return mmhgoHookCall(ctx, (uintptr_t)user_data);
}

static void mmhgo_hook_free(void *user_data) { mmhgoHookFree((uintptr_t)user_data); }

mmh_error_t *mmhgo_add_hook(mmh_runner_t *runner, const char *name, int32_t priority,
                            uint64_t stages, uintptr_t handle, char *name_buf, size_t name_cap,
                            size_t *name_len) {
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = name;
  d.priority = priority;
  d.stages = stages;
  d.fn = mmhgo_hook_fn;
  d.user_data = (void *)handle;
  d.user_data_free = mmhgo_hook_free;
  return mmh_runner_add_hook(runner, &d, name_buf, name_cap, name_len);
}

static void mmhgo_log_fn(int32_t level, const char *message, void *user_data) {
  mmhgoLogCall(level, (char *)message, (uintptr_t)user_data);
}

static void mmhgo_log_free(void *user_data) { mmhgoLogFree((uintptr_t)user_data); }

mmh_error_t *mmhgo_log_set(uintptr_t handle) {
  if (handle == 0) return mmh_log_set_callback(NULL, NULL, NULL);
  return mmh_log_set_callback(mmhgo_log_fn, (void *)handle, mmhgo_log_free);
}
