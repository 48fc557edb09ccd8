/* The C ABI's convention (docs/c_api.md, "Conventions"): every function that can fail returns
 * an mmh_error_t * with a code and a message, results come back through out parameters, text
 * getters take (buf, cap, len_out), versioned structs accept any struct_size from their first
 * version on, a taken hook name gets a `_<n>` suffix from C as from configs. This program uses
 * only the functions of the convention: MMH_WARN_DEPRECATED turns any deprecated call into a
 * -Werror failure. Usage: test_capi_conventions WORK_DIR */
#ifndef MMH_WARN_DEPRECATED
#define MMH_WARN_DEPRECATED
#endif
#include <mmhook.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;
static const char *g_work = "/tmp/mmhook_capi_conventions";
static const char *g_train_dataset = "ToyDataset";

#include "toy_runner.h"

static int g_frees = 0;
static void count_free(void *p) {
  (void)p;
  ++g_frees;
}
static mmh_hook_action_t nop_fn(mmh_hook_ctx_t *ctx, void *p) {
  (void)ctx, (void)p;
  return MMH_HOOK_CONTINUE;
}

static mmh_hook_desc_t nop_desc(const char *name) {
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = name;
  d.stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  d.fn = nop_fn;
  d.user_data_free = count_free;
  return d;
}

/* ----------------------------------------------------------------------------------------- */

/* Text getters: (buf, cap, len_out), errors with messages, never an empty text for a failure. */
static void test_runner_text_getters(void) {
  typedef mmh_error_t *(*getter_t)(const mmh_runner_t *, char *, size_t, size_t *);
  const getter_t getters[4] = {mmh_runner_get_hooks_info, mmh_runner_get_metrics_json,
                               mmh_runner_get_hook_timing_json, mmh_runner_get_last_checkpoint};
  mmh_runner_t *runner = make_runner("text_getters", 1, NULL);
  char buf[8192];
  for (int i = 0; i < 4; ++i) {
    size_t len = 12345;
    strcpy(buf, "untouched");
    CHECK_ERR(getters[i](NULL, buf, sizeof buf, &len), MMH_E_INVALID_ARGUMENT, "runner is NULL");
    CHECK(len == 12345 && strcmp(buf, "untouched") == 0); /* nothing written on error */
    CHECK_ERR(getters[i](runner, buf, sizeof buf, NULL), MMH_E_INVALID_ARGUMENT, "len_out is NULL");
    CHECK_ERR(getters[i](runner, NULL, 16, &len), MMH_E_INVALID_ARGUMENT,
              "buf is NULL but cap is 16");
    CHECK(len == 12345);
    /* A length query, then the text itself. */
    CHECK_OK(getters[i](runner, NULL, 0, &len));
    size_t len2 = 0;
    CHECK_OK(getters[i](runner, buf, sizeof buf, &len2));
    CHECK(len2 == len && strlen(buf) == len);
  }
  size_t len = 0;
  CHECK_OK(mmh_runner_get_metrics_json(runner, buf, sizeof buf, &len));
  CHECK(strcmp(buf, "{}") == 0 && len == 2); /* no evaluation yet */
  CHECK_OK(mmh_runner_get_last_checkpoint(runner, buf, sizeof buf, &len));
  CHECK(strcmp(buf, "") == 0 && len == 0); /* no checkpoint yet: a value, not a failure */
  CHECK_OK(mmh_runner_train(runner));
  CHECK_OK(mmh_runner_get_metrics_json(runner, buf, sizeof buf, &len));
  CHECK(strstr(buf, "\"acc\":1") != NULL);
  CHECK_OK(mmh_runner_get_last_checkpoint(runner, buf, sizeof buf, &len));
  CHECK(strstr(buf, "epoch_1.pth") != NULL && len == strlen(buf));
  CHECK_OK(mmh_runner_get_hook_timing_json(runner, buf, sizeof buf, &len));
  CHECK(buf[0] == '[' && strstr(buf, "\"hook\":\"CheckpointHook\"") != NULL);
  CHECK_OK(mmh_runner_get_hooks_info(runner, buf, sizeof buf, &len));
  CHECK(strstr(buf, "after_train_iter:\n") != NULL);
  /* Too small a buffer: a NUL-terminated prefix and the full length, so the caller retries. */
  char small[8];
  size_t full = 0;
  CHECK_OK(mmh_runner_get_hooks_info(runner, small, sizeof small, &full));
  CHECK(full == len && strlen(small) == sizeof small - 1 && strncmp(small, buf, 7) == 0);
  CHECK_OK(mmh_runner_get_hooks_info(runner, small, 1, &full));
  CHECK(small[0] == '\0' && full == len);
  mmh_runner_destroy(runner);
}

static void test_runner_counters(void) {
  mmh_runner_t *runner = make_runner("counters", 2, NULL);
  int64_t v = -7;
  CHECK_ERR(mmh_runner_get_epoch(NULL, &v), MMH_E_INVALID_ARGUMENT, "runner is NULL");
  CHECK_ERR(mmh_runner_get_iter(NULL, &v), MMH_E_INVALID_ARGUMENT, "runner is NULL");
  CHECK_ERR(mmh_runner_get_epoch(runner, NULL), MMH_E_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERR(mmh_runner_get_iter(runner, NULL), MMH_E_INVALID_ARGUMENT, "out is NULL");
  CHECK(v == -7);
  CHECK_OK(mmh_runner_get_epoch(runner, &v));
  CHECK(v == 0);
  CHECK_OK(mmh_runner_train(runner));
  CHECK_OK(mmh_runner_get_epoch(runner, &v));
  CHECK(v == 2);
  CHECK_OK(mmh_runner_get_iter(runner, &v));
  CHECK(v == 8);
  mmh_runner_destroy(runner);
}

/* A hook that tries to add another hook while the runner runs. */
static int g_added_while_running = 0;
static mmh_hook_action_t adder_fn(mmh_hook_ctx_t *ctx, void *p) {
  (void)ctx;
  mmh_hook_desc_t d = nop_desc("late");
  CHECK_ERR(mmh_runner_add_hook((mmh_runner_t *)p, &d, NULL, 0, NULL), MMH_E_FAILED_PRECONDITION,
            "while the runner is running");
  ++g_added_while_running;
  return MMH_HOOK_CONTINUE;
}

static mmh_code_t nop_factory(const char *entry_json, mmh_hook_desc_t *desc, void *p) {
  (void)entry_json, (void)p;
  desc->stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  desc->fn = nop_fn;
  return MMH_OK;
}

/* One rule for a taken name, from C and from configs: the first free `<name>_<n>`. */
static void test_add_hook_names(void) {
  g_frees = 0;
  CHECK_OK(mmh_hook_type_register("CNopHook", nop_factory, NULL, NULL));
  mmh_runner_t *runner = make_runner(
      "add_hook", 1, ", \"custom_hooks\": [{\"type\": \"CNopHook\"}, {\"type\": \"CNopHook\"}]");
  char name[64];
  size_t len = 0;
  mmh_hook_desc_t d = nop_desc("probe");
  CHECK_OK(mmh_runner_add_hook(runner, &d, name, sizeof name, &len));
  CHECK(strcmp(name, "probe") == 0 && len == 5);
  CHECK_OK(mmh_runner_add_hook(runner, &d, name, sizeof name, &len));
  CHECK(strcmp(name, "probe_1") == 0 && len == 7);
  CHECK_OK(mmh_runner_add_hook(runner, &d, NULL, 0, NULL)); /* the name is not wanted */
  CHECK_OK(mmh_runner_add_hook(runner, &d, name, 4, &len)); /* truncated, still added */
  CHECK(strcmp(name, "pro") == 0 && len == 7);              /* "probe_3" */
  /* Built-in and config hooks' names follow the same rule. */
  d.name = "IterTimerHook";
  CHECK_OK(mmh_runner_add_hook(runner, &d, name, sizeof name, &len));
  CHECK(strcmp(name, "IterTimerHook_1") == 0);
  d.name = "CNopHook";
  CHECK_OK(mmh_runner_add_hook(runner, &d, name, sizeof name, &len));
  CHECK(strcmp(name, "CNopHook_2") == 0); /* the config's two entries are CNopHook, CNopHook_1 */
  CHECK(g_frees == 0);
  /* Errors: codes and messages; user_data_free runs for each. */
  d.name = "bad";
  CHECK_ERR(mmh_runner_add_hook(NULL, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT, "runner is NULL");
  CHECK(g_frees == 1);
  CHECK_ERR(mmh_runner_add_hook(runner, NULL, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT,
            "desc is NULL");
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 8, &len), MMH_E_INVALID_ARGUMENT,
            "name_buf is NULL but name_cap is 8");
  CHECK(g_frees == 2);
  d.fn = NULL;
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT, "fn is NULL");
  d.fn = nop_fn;
  d.name = NULL;
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT,
            "name is NULL or empty");
  d.name = "bad\xc3\x28";
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT,
            "not valid UTF-8");
  d.name = "bad";
  d.priority = 101;
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT,
            "priority must be between 0 and 100, got 101");
  d.priority = MMH_PRIORITY_NORMAL;
  d.stages = MMH_STAGE_BIT(MMH_STAGE_COUNT);
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_INVALID_ARGUMENT,
            "stages has bits beyond MMH_STAGE_COUNT");
  CHECK(g_frees == 7);
  d.stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  d.struct_size = sizeof(size_t); /* older than the first version: user_data_free is unknown */
  CHECK_ERR(mmh_runner_add_hook(runner, &d, NULL, 0, NULL), MMH_E_ABI,
            "the size of its first version");
  CHECK(g_frees == 7);
  /* A hook of the run cannot add hooks: the runner is running. */
  mmh_hook_desc_t adder = nop_desc("adder");
  adder.fn = adder_fn;
  adder.user_data = runner;
  adder.user_data_free = NULL;
  adder.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_TRAIN);
  CHECK_OK(mmh_runner_add_hook(runner, &adder, NULL, 0, NULL));
  g_added_while_running = 0;
  CHECK_OK(mmh_runner_train(runner));
  CHECK(g_added_while_running == 1);
  CHECK(g_frees == 8); /* the "late" hook's */
  /* The timing table names hooks by the names they got (hooks_info shows their types). */
  char timing[65536];
  CHECK_OK(mmh_runner_get_hook_timing_json(runner, timing, sizeof timing, &len));
  CHECK(len < sizeof timing);
  CHECK(strstr(timing, "\"hook\":\"CNopHook_1\"") != NULL);
  CHECK(strstr(timing, "\"hook\":\"probe_3\"") != NULL);
  CHECK(strstr(timing, "\"hook\":\"IterTimerHook_1\"") != NULL);
  /* Removal takes the name the hook got. */
  CHECK_OK(mmh_runner_remove_hook(runner, "probe_1"));
  CHECK(g_frees == 9);
  mmh_runner_destroy(runner);
  CHECK(g_frees == 14); /* probe, probe_2, probe_3, IterTimerHook_1, CNopHook_2 */
  CHECK_OK(mmh_hook_type_unregister("CNopHook"));
}

/* Everything a hook can ask, with the errors of misuse. */
typedef struct {
  int checked;
  const mmh_hook_ctx_t *saved;
} probe_t;

static mmh_hook_action_t ctx_probe_fn(mmh_hook_ctx_t *ctx, void *p) {
  probe_t *probe = (probe_t *)p;
  probe->saved = ctx;
  mmh_stage_t stage = -5;
  CHECK_OK(mmh_hook_ctx_get_stage(ctx, &stage));
  CHECK_ERR(mmh_hook_ctx_get_stage(ctx, NULL), MMH_E_INVALID_ARGUMENT, "out is NULL");
  int64_t v = -9;
  if (stage == MMH_STAGE_BEFORE_TRAIN_EPOCH) {
    CHECK_ERR(mmh_hook_ctx_get_batch_idx(ctx, &v), MMH_E_NOT_FOUND,
              "no batch at before_train_epoch");
    CHECK(v == -9);
    CHECK_ERR(mmh_hook_ctx_get_error_message(ctx, &(const char *){NULL}), MMH_E_NOT_FOUND,
              "during on_exception only");
    const int64_t bytes = 1;
    CHECK_ERR(mmh_hook_ctx_put_checkpoint_state(ctx, "k", &bytes, sizeof bytes),
              MMH_E_FAILED_PRECONDITION, "before_save_checkpoint only, not at before_train_epoch");
    size_t len = 0;
    CHECK_ERR(mmh_hook_ctx_get_checkpoint_state(ctx, "k", NULL, 0, &len), MMH_E_FAILED_PRECONDITION,
              "after_load_checkpoint only");
    size_t n = 99;
    CHECK_OK(mmh_hook_ctx_get_metric_count(ctx, &n));
    CHECK(n == 0);
    ++probe->checked;
  }
  if (stage == MMH_STAGE_BEFORE_TRAIN_ITER) {
    CHECK_OK(mmh_hook_ctx_get_batch_idx(ctx, &v));
    const int64_t batch = v;
    CHECK_OK(mmh_hook_ctx_get_iter(ctx, &v));
    CHECK(v == batch); /* one epoch */
    CHECK_OK(mmh_hook_ctx_get_epoch(ctx, &v));
    CHECK(v == 0);
    CHECK_OK(mmh_hook_ctx_get_max_epochs(ctx, &v));
    CHECK(v == 1);
    CHECK_OK(mmh_hook_ctx_get_max_iters(ctx, &v));
    CHECK(v == 4);
    CHECK_ERR(mmh_hook_ctx_get_epoch(ctx, NULL), MMH_E_INVALID_ARGUMENT, "out is NULL");
    /* Tensors. */
    const mmh_tensor_t *t = NULL;
    CHECK_OK(mmh_hook_ctx_get_tensor(ctx, "inputs", &t));
    size_t ndim = 0, numel = 0;
    const int64_t *shape = NULL;
    CHECK_OK(mmh_tensor_get_ndim(t, &ndim));
    CHECK_OK(mmh_tensor_get_shape(t, &shape));
    CHECK_OK(mmh_tensor_get_numel(t, &numel));
    CHECK(ndim == 2 && shape != NULL && shape[0] == 3 && shape[1] == 2 && numel == 6);
    CHECK_ERR(mmh_tensor_get_ndim(NULL, &ndim), MMH_E_INVALID_ARGUMENT, "tensor is NULL");
    CHECK_ERR(mmh_tensor_get_shape(t, NULL), MMH_E_INVALID_ARGUMENT, "out is NULL");
    CHECK_ERR(mmh_tensor_get_numel(NULL, &numel), MMH_E_INVALID_ARGUMENT, "tensor is NULL");
    const mmh_tensor_t *missing = (const mmh_tensor_t *)probe;
    CHECK_ERR(mmh_hook_ctx_get_tensor(ctx, "nope", &missing), MMH_E_NOT_FOUND,
              "no tensor 'nope' at before_train_iter");
    CHECK(missing == (const mmh_tensor_t *)probe);
    CHECK_ERR(mmh_hook_ctx_get_tensor(ctx, NULL, &missing), MMH_E_INVALID_ARGUMENT, "key is NULL");
    /* Learning rates. */
    size_t groups = 0;
    CHECK_OK(mmh_hook_ctx_get_param_group_count(ctx, &groups));
    CHECK(groups == 1);
    double lr = 0;
    CHECK_OK(mmh_hook_ctx_get_lr(ctx, 0, &lr));
    CHECK(lr == 0.1);
    CHECK_ERR(mmh_hook_ctx_get_lr(ctx, 7, &lr), MMH_E_INVALID_ARGUMENT,
              "parameter group 7 is out of range (the optimizer has 1)");
    CHECK_ERR(mmh_hook_ctx_set_lr(ctx, 0, INFINITY), MMH_E_INVALID_ARGUMENT,
              "must be finite, >= 0 and within float's range");
    CHECK_ERR(mmh_hook_ctx_set_lr(ctx, 0, -1.0), MMH_E_INVALID_ARGUMENT, "learning rate");
    CHECK_OK(mmh_hook_ctx_set_lr(ctx, 0, 0.1));
    /* Scalars. */
    double s = -3;
    CHECK_ERR(mmh_hook_ctx_get_scalar(ctx, "train/nope", &s), MMH_E_NOT_FOUND,
              "no scalar 'train/nope'");
    CHECK(s == -3);
    CHECK_ERR(mmh_hook_ctx_update_scalar(ctx, "train/\xc3\x28", 1.0), MMH_E_INVALID_ARGUMENT,
              "key is not valid UTF-8");
    CHECK_ERR(mmh_hook_ctx_update_scalar(ctx, NULL, 1.0), MMH_E_INVALID_ARGUMENT, "key is NULL");
    CHECK_OK(mmh_hook_ctx_update_scalar(ctx, "train/probe", 2.5));
    CHECK_OK(mmh_hook_ctx_get_scalar(ctx, "train/probe", &s));
    CHECK(s == 2.5);
    CHECK_ERR(mmh_hook_ctx_set_error(ctx, "bad \xff"), MMH_E_INVALID_ARGUMENT,
              "message is not valid UTF-8");
    CHECK_ERR(mmh_hook_ctx_set_error(ctx, NULL), MMH_E_INVALID_ARGUMENT, "message is NULL");
    ++probe->checked;
  }
  if (stage == MMH_STAGE_AFTER_VAL_EPOCH) {
    size_t n = 0;
    CHECK_OK(mmh_hook_ctx_get_metric_count(ctx, &n));
    CHECK(n == 1);
    const char *name = NULL;
    double value = 0;
    CHECK_OK(mmh_hook_ctx_get_metric(ctx, 0, &name, &value));
    CHECK(name != NULL && strcmp(name, "acc") == 0 && value == 1.0);
    CHECK_ERR(mmh_hook_ctx_get_metric(ctx, 1, &name, &value), MMH_E_NOT_FOUND,
              "metric 1 does not exist: 1 metric(s) at after_val_epoch");
    CHECK_ERR(mmh_hook_ctx_get_metric(ctx, 0, NULL, &value), MMH_E_INVALID_ARGUMENT,
              "out_name is NULL");
    ++probe->checked;
  }
  return MMH_HOOK_CONTINUE;
}

static void test_hook_ctx_functions(void) {
  probe_t probe = {0, NULL};
  mmh_runner_t *runner = make_runner("ctx", 1, NULL);
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = "ctx_probe";
  d.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_TRAIN_EPOCH) |
             MMH_STAGE_BIT(MMH_STAGE_BEFORE_TRAIN_ITER) | MMH_STAGE_BIT(MMH_STAGE_AFTER_VAL_EPOCH);
  d.fn = ctx_probe_fn;
  d.user_data = &probe;
  CHECK_OK(mmh_runner_add_hook(runner, &d, NULL, 0, NULL));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(probe.checked == 1 + 4 + 1);
  /* The ctx after its call, and a NULL ctx: errors naming why, for every function. */
  const mmh_hook_ctx_t *ctx = probe.saved;
  mmh_stage_t stage = -5;
  CHECK_ERR(mmh_hook_ctx_get_stage(ctx, &stage), MMH_E_FAILED_PRECONDITION,
            "outside its hook call");
  CHECK(stage == -5);
  CHECK_ERR(mmh_hook_ctx_get_stage(NULL, &stage), MMH_E_INVALID_ARGUMENT, "ctx is NULL");
  double x = 0;
  CHECK_ERR(mmh_hook_ctx_get_scalar(ctx, "train/loss", &x), MMH_E_FAILED_PRECONDITION,
            "outside its hook call");
  CHECK_ERR(mmh_hook_ctx_update_scalar(NULL, "k", 1.0), MMH_E_INVALID_ARGUMENT, "ctx is NULL");
  CHECK_ERR(mmh_hook_ctx_set_lr(NULL, 0, 0.1), MMH_E_INVALID_ARGUMENT, "ctx is NULL");
  CHECK_ERR(mmh_hook_ctx_set_error(NULL, "x"), MMH_E_INVALID_ARGUMENT, "ctx is NULL");
  CHECK_ERR(mmh_hook_ctx_put_checkpoint_state(NULL, "k", NULL, 0), MMH_E_INVALID_ARGUMENT,
            "ctx is NULL");
  int64_t v = 0;
  CHECK_ERR(mmh_hook_ctx_get_iter(ctx, &v), MMH_E_FAILED_PRECONDITION, "outside its hook call");
  mmh_runner_destroy(runner);
}

/* Checkpoint state across a resume, with the new functions' buffers; on_exception's message. */
static int64_t g_restored = 0;
static int g_saw_exception = 0;
static mmh_hook_action_t state_fn(mmh_hook_ctx_t *ctx, void *p) {
  (void)p;
  mmh_stage_t stage = -1;
  CHECK_OK(mmh_hook_ctx_get_stage(ctx, &stage));
  if (stage == MMH_STAGE_BEFORE_SAVE_CHECKPOINT) {
    int64_t iter = 0;
    CHECK_OK(mmh_hook_ctx_get_iter(ctx, &iter));
    const int64_t value = 1000 + iter;
    CHECK_ERR(mmh_hook_ctx_put_checkpoint_state(ctx, "bad\xff", &value, sizeof value),
              MMH_E_INVALID_ARGUMENT, "key is not valid UTF-8");
    CHECK_ERR(mmh_hook_ctx_put_checkpoint_state(ctx, "counter", NULL, 8), MMH_E_INVALID_ARGUMENT,
              "data is NULL but len is 8");
    CHECK_OK(mmh_hook_ctx_put_checkpoint_state(ctx, "counter", &value, sizeof value));
  }
  if (stage == MMH_STAGE_AFTER_LOAD_CHECKPOINT) {
    size_t len = 0;
    CHECK_OK(mmh_hook_ctx_get_checkpoint_state(ctx, "counter", NULL, 0, &len)); /* length only */
    CHECK(len == sizeof(int64_t));
    unsigned char part[4] = {0, 0, 0, 0};
    len = 0;
    CHECK_OK(mmh_hook_ctx_get_checkpoint_state(ctx, "counter", part, sizeof part, &len));
    CHECK(len == sizeof(int64_t)); /* the full length: too small a buffer is not an error */
    int64_t value = 0;
    CHECK_OK(mmh_hook_ctx_get_checkpoint_state(ctx, "counter", &value, sizeof value, &len));
    CHECK(memcmp(part, &value, sizeof part) == 0);
    g_restored = value;
    CHECK_ERR(mmh_hook_ctx_get_checkpoint_state(ctx, "counter", &value, sizeof value, NULL),
              MMH_E_INVALID_ARGUMENT, "len_out is NULL");
    CHECK_ERR(mmh_hook_ctx_get_checkpoint_state(ctx, "counter", NULL, 8, &len),
              MMH_E_INVALID_ARGUMENT, "buf is NULL but cap is 8");
    CHECK_ERR(mmh_hook_ctx_get_checkpoint_state(ctx, "absent", &value, sizeof value, &len),
              MMH_E_NOT_FOUND, "no state 'absent' of hook 'stateful'");
  }
  if (stage == MMH_STAGE_AFTER_TRAIN_ITER) {
    int64_t iter = 0;
    CHECK_OK(mmh_hook_ctx_get_iter(ctx, &iter));
    if (iter == 10) {
      CHECK_OK(mmh_hook_ctx_set_error(ctx, "stop at iter 10"));
      return MMH_HOOK_ABORT;
    }
  }
  if (stage == MMH_STAGE_ON_EXCEPTION) {
    const char *msg = NULL;
    CHECK_OK(mmh_hook_ctx_get_error_message(ctx, &msg));
    CHECK(msg != NULL && strstr(msg, "stop at iter 10") != NULL);
    g_saw_exception = 1;
  }
  return MMH_HOOK_CONTINUE;
}

static void test_checkpoint_state_and_on_exception(void) {
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = "stateful";
  d.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_SAVE_CHECKPOINT) |
             MMH_STAGE_BIT(MMH_STAGE_AFTER_LOAD_CHECKPOINT) |
             MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER) | MMH_STAGE_BIT(MMH_STAGE_ON_EXCEPTION);
  d.fn = state_fn;
  mmh_runner_t *runner = make_runner("state", 2, NULL);
  CHECK_OK(mmh_runner_add_hook(runner, &d, NULL, 0, NULL));
  CHECK_OK(mmh_runner_train(runner));
  mmh_runner_destroy(runner);
  runner = make_runner("state", 3, ", \"resume\": true");
  CHECK_OK(mmh_runner_add_hook(runner, &d, NULL, 0, NULL));
  CHECK_ERR(mmh_runner_train(runner), MMH_E_HOOK_ABORTED, "stop at iter 10");
  CHECK(g_restored == 1008);
  CHECK(g_saw_exception == 1);
  mmh_runner_destroy(runner);
}

/* A C dataset filled with mmh_sample_set_array_*: errors carry messages. */
static int g_sample_checks = 0;
static int64_t cds_len(void *p) {
  (void)p;
  return 9;
}
static mmh_code_t cds_get(int64_t index, uint64_t seed, mmh_sample_t *s, void *p) {
  (void)seed, (void)p;
  const float x[2] = {(float)index / 9.0f, 1.0f - (float)index / 9.0f};
  const float y[1] = {1.0f};
  const int64_t shape_x[1] = {2}, shape_y[1] = {1}, bad[1] = {-2};
  if (index == 0) {
    CHECK_ERR(mmh_sample_set_array_f32(s, "inputs", x, bad, 1), MMH_E_INVALID_ARGUMENT,
              "setting 'inputs': negative dimension -2");
    CHECK_ERR(mmh_sample_set_array_f32(s, NULL, x, shape_x, 1), MMH_E_INVALID_ARGUMENT,
              "name is NULL");
    CHECK_ERR(mmh_sample_set_array_f32(NULL, "inputs", x, shape_x, 1), MMH_E_INVALID_ARGUMENT,
              "sample is NULL");
    CHECK_ERR(mmh_sample_set_array_f32(s, "in\xc3", x, shape_x, 1), MMH_E_INVALID_ARGUMENT,
              "not valid UTF-8");
    CHECK_ERR(mmh_sample_set_array_f32(s, "inputs", x, NULL, 1), MMH_E_INVALID_ARGUMENT,
              "shape is NULL but ndim is 1");
    CHECK_ERR(mmh_sample_set_array_i64(s, "label", NULL, shape_y, 1), MMH_E_INVALID_ARGUMENT,
              "setting 'label': data is NULL");
    ++g_sample_checks;
  }
  mmh_error_t *e = mmh_sample_set_array_f32(s, "inputs", x, shape_x, 1);
  if (e == NULL) e = mmh_sample_set_array_f32(s, "targets", y, shape_y, 1);
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* Registries: mmh_<registry>_register/unregister, one registry each; struct_size versions. */
static void test_type_registries(void) {
  mmh_dataset_desc_t dd;
  mmh_dataset_desc_init(&dd, sizeof dd);
  dd.len = cds_len;
  dd.get = cds_get;
  dd.user_data_free = count_free;
  /* A hook type and a dataset type may share a name; each unregister takes its own. */
  CHECK_OK(mmh_hook_type_register("CShared", nop_factory, NULL, NULL));
  CHECK_OK(mmh_dataset_type_register("CShared", &dd));
  CHECK_OK(mmh_hook_type_unregister("CShared"));
  CHECK_ERR(mmh_hook_type_unregister("CShared"), MMH_E_NOT_FOUND,
            "no hook type named 'CShared' was registered from C (a dataset type has that name)");
  g_train_dataset = "CShared"; /* the dataset type is still there */
  char *cfg = toy_config("registries", 1, NULL);
  g_train_dataset = "ToyDataset";
  mmh_runner_t *r = NULL;
  CHECK_OK(mmh_runner_create(cfg, &r));
  free(cfg);
  CHECK_OK(mmh_runner_train(r));
  int64_t iters = 0;
  CHECK_OK(mmh_runner_get_iter(r, &iters));
  CHECK(iters == 3);
  CHECK(g_sample_checks >= 1);
  mmh_runner_destroy(r);
  g_frees = 0;
  CHECK_OK(mmh_dataset_type_unregister("CShared"));
  CHECK(g_frees == 1);
  CHECK_ERR(mmh_dataset_type_unregister("CShared"), MMH_E_NOT_FOUND,
            "no dataset type named 'CShared' was registered from C");
  CHECK_ERR(mmh_dataset_type_unregister(NULL), MMH_E_INVALID_ARGUMENT, "name is NULL");
  CHECK_ERR(mmh_hook_type_unregister(NULL), MMH_E_INVALID_ARGUMENT, "name is NULL");
  /* Registration errors: codes, messages, user data freed. */
  CHECK_ERR(mmh_hook_type_register("CNop2", NULL, NULL, count_free), MMH_E_INVALID_ARGUMENT,
            "name or factory is NULL");
  CHECK(g_frees == 2);
  CHECK_ERR(mmh_hook_type_register("bad\xff", nop_factory, NULL, count_free),
            MMH_E_INVALID_ARGUMENT, "name is not valid UTF-8");
  CHECK(g_frees == 3);
  CHECK_ERR(mmh_hook_type_register("IterTimerHook", nop_factory, NULL, count_free),
            MMH_E_INVALID_ARGUMENT, "already registered");
  CHECK(g_frees == 4);
  CHECK_ERR(mmh_dataset_type_register("CNull", NULL), MMH_E_INVALID_ARGUMENT, "desc is NULL");
  CHECK_ERR(mmh_dataset_type_register("bad\xff", &dd), MMH_E_INVALID_ARGUMENT,
            "name is not valid UTF-8");
  CHECK(g_frees == 5);
  /* Any struct_size from the first version on; below it, MMH_E_ABI naming the struct. */
  mmh_dataset_desc_t small = dd;
  small.struct_size = sizeof(size_t);
  CHECK_ERR(mmh_dataset_type_register("CTooOld", &small), MMH_E_ABI,
            "mmh_dataset_desc_t.struct_size 8 is below");
  CHECK(g_frees == 5); /* too old a layout: user_data_free's place is unknown */
  struct {
    mmh_dataset_desc_t desc;
    int64_t field_of_a_newer_header;
  } newer;
  memset(&newer, 0, sizeof newer);
  newer.desc = dd;
  newer.desc.struct_size = sizeof newer; /* a caller built against a newer header */
  CHECK_OK(mmh_dataset_type_register("CNewer", &newer.desc));
  CHECK_OK(mmh_dataset_type_unregister("CNewer"));
  CHECK(g_frees == 6);
}

/* The one _init: writes defaults over the caller's struct_size bytes only. */
static void test_desc_init(void) {
  union {
    mmh_hook_desc_t desc;
    unsigned char bytes[sizeof(mmh_hook_desc_t)];
  } u;
  memset(&u, 0xAB, sizeof u);
  const size_t part = offsetof(mmh_hook_desc_t, priority) + sizeof(int32_t);
  mmh_hook_desc_init(&u.desc, part);
  CHECK(u.desc.struct_size == part && u.desc.name == NULL);
  CHECK(u.desc.priority == MMH_PRIORITY_NORMAL);
  CHECK(u.bytes[sizeof u - 1] == 0xAB); /* beyond struct_size: untouched */
  mmh_hook_desc_init(&u.desc, sizeof u.desc + 64);
  CHECK(u.desc.struct_size == sizeof u.desc && u.desc.stages == 0 && u.desc.fn == NULL);
  mmh_hook_desc_init(NULL, sizeof u.desc); /* no-op */
  mmh_dataset_desc_t dd;
  memset(&dd, 0xAB, sizeof dd);
  mmh_dataset_desc_init(&dd, sizeof dd);
  CHECK(dd.struct_size == sizeof dd && dd.len == NULL && dd.get == NULL && dd.user_data == NULL);
}

static int g_log_calls = 0;
static void log_fn(int32_t level, const char *message, void *p) {
  (void)level, (void)message, (void)p;
  ++g_log_calls;
}

static void test_log_set_callback(void) {
  g_frees = 0;
  CHECK_OK(mmh_log_set_callback(log_fn, NULL, count_free));
  mmh_runner_t *r = make_runner("log", 1, ", \"load_from\": \"/nonexistent/x.pth\"");
  CHECK_ERR(mmh_runner_val(r), MMH_E_CHECKPOINT, "/nonexistent/x.pth");
  mmh_runner_destroy(r);
  CHECK(g_log_calls > 0);
  CHECK(g_frees == 0);
  CHECK_OK(mmh_log_set_callback(NULL, NULL, count_free)); /* stops routing, frees both */
  CHECK(g_frees == 2);
}

int main(int argc, char **argv) {
  if (argc > 1) g_work = argv[1];
  test_runner_text_getters();
  test_runner_counters();
  test_add_hook_names();
  test_hook_ctx_functions();
  test_checkpoint_state_and_on_exception();
  test_type_registries();
  test_desc_init();
  test_log_set_callback();
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("all C ABI convention checks passed\n");
  return 0;
}
