/* C ABI suite: a C99 program that links only libmmhook.so and trains through callbacks.
 * Each test checks one rule of docs/c_api.md: errors, ownership (user_data_free exactly once),
 * stage masks, priorities, stop/abort, ctx lifetime, tensors, checkpoint state across resume,
 * type registries and log routing. Usage: test_capi_c WORK_DIR */
#include <mmhook.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;
static const char *g_work = "/tmp/mmhook_capi";
static const char *g_train_dataset = "ToyDataset"; /* the train set's type in toy_config */

#include "toy_runner.h"

/* ----------------------------------------------------------------------------------------- */
/* user_data bookkeeping                                                                     */

typedef struct {
  int frees;
  int calls[MMH_STAGE_COUNT];
  int order[4096];
  int n;
  int64_t iters[256];
  int n_iters;
  double last_loss;
  int stop_at_epoch;
  int abort_at_iter;
  int request_stop_at_iter;
  mmh_runner_t *runner;
  const mmh_hook_ctx_t *saved_ctx;
  int saw_on_exception;
  char error_text[256];
  int64_t restored;
} record_t;

static void record_free(void *p) { ((record_t *)p)->frees++; }

static mmh_hook_action_t record_fn(mmh_hook_ctx_t *ctx, void *p) {
  record_t *r = (record_t *)p;
  const mmh_stage_t s = mmh_ctx_stage(ctx);
  r->calls[s]++;
  if (r->n < 4096) r->order[r->n++] = s;
  r->saved_ctx = ctx;
  if (s == MMH_STAGE_AFTER_TRAIN_ITER) {
    double loss = 0;
    CHECK(mmh_ctx_scalar(ctx, "train/loss", &loss) == MMH_OK);
    r->last_loss = loss;
    if (r->n_iters < 256) r->iters[r->n_iters++] = mmh_ctx_iter(ctx);
    if (r->abort_at_iter >= 0 && mmh_ctx_iter(ctx) == r->abort_at_iter) {
      CHECK(mmh_ctx_set_error(ctx, "loss looked wrong") == MMH_OK);
      return MMH_HOOK_ABORT;
    }
    if (r->request_stop_at_iter >= 0 && mmh_ctx_iter(ctx) == r->request_stop_at_iter)
      mmh_runner_request_stop(r->runner);
  }
  if (s == MMH_STAGE_AFTER_TRAIN_EPOCH && r->stop_at_epoch >= 0 &&
      mmh_ctx_epoch(ctx) == r->stop_at_epoch)
    return MMH_HOOK_STOP;
  if (s == MMH_STAGE_ON_EXCEPTION) {
    const char *msg = NULL;
    CHECK(mmh_ctx_error_message(ctx, &msg) == MMH_OK);
    r->saw_on_exception = 1;
    snprintf(r->error_text, sizeof r->error_text, "%s", msg ? msg : "");
  }
  return MMH_HOOK_CONTINUE;
}

static void record_init(record_t *r) {
  memset(r, 0, sizeof *r);
  r->stop_at_epoch = -1;
  r->abort_at_iter = -1;
  r->request_stop_at_iter = -1;
}

static mmh_error_t *add_record_hook(mmh_runner_t *runner, record_t *rec, const char *name,
                                    int32_t priority, uint64_t stages) {
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = name;
  d.priority = priority;
  d.stages = stages;
  d.fn = record_fn;
  d.user_data = rec;
  d.user_data_free = record_free;
  rec->runner = runner;
  return mmh_runner_register_hook(runner, &d);
}

/* ----------------------------------------------------------------------------------------- */

static void test_versions_and_names(void) {
  CHECK(mmh_version_number() ==
        ((MMH_VERSION_MAJOR << 16) | (MMH_VERSION_MINOR << 8) | MMH_VERSION_PATCH));
  CHECK(strlen(mmh_version_string()) >= 5);
  CHECK(strcmp(mmh_stage_name(MMH_STAGE_BEFORE_RUN), "before_run") == 0);
  CHECK(strcmp(mmh_stage_name(MMH_STAGE_ON_EXCEPTION), "on_exception") == 0);
  CHECK(mmh_stage_name(MMH_STAGE_COUNT) == NULL);
  CHECK(mmh_stage_name(-1) == NULL);
}

static void test_errors_never_crash(void) {
  mmh_runner_t *r = (mmh_runner_t *)1;
  mmh_error_t *e = mmh_runner_create(NULL, &r);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  CHECK(r == NULL);
  mmh_error_free(e);
  e = mmh_runner_create("{\"model\": ", &r);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "invalid JSON") != NULL);
  mmh_error_free(e);
  e = mmh_runner_create("{\"model\": {\"type\": \"ToyModle\"}}", &r);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "model.type") != NULL);
  CHECK(strstr(mmh_error_message(e), "ToyModel") != NULL);
  mmh_error_free(e);
  CHECK(mmh_error_code(NULL) == MMH_OK);
  CHECK(strcmp(mmh_error_message(NULL), "") == 0);
  mmh_error_free(NULL);
  mmh_runner_destroy(NULL);
  mmh_runner_request_stop(NULL);
  CHECK(mmh_runner_hooks_info(NULL, NULL, 0) == 0);
  e = mmh_runner_train(NULL);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(mmh_ctx_stage(NULL) == -1);
  CHECK(mmh_ctx_scalar(NULL, "x", NULL) == MMH_E_INVALID_ARGUMENT);
  CHECK(mmh_tensor_ndim(NULL) == 0);
  mmh_tensor_free(NULL);
}

static void test_train_trace_and_ownership(void) {
  record_t rec;
  record_init(&rec);
  mmh_runner_t *runner = make_runner("trace", 2, NULL);
  CHECK_OK(add_record_hook(runner, &rec, "recorder", MMH_PRIORITY_NORMAL, MMH_STAGES_ALL));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(rec.calls[MMH_STAGE_BEFORE_RUN] == 1);
  CHECK(rec.calls[MMH_STAGE_BEFORE_TRAIN_ITER] == 8);
  CHECK(rec.calls[MMH_STAGE_AFTER_TRAIN_ITER] == 8);
  CHECK(rec.calls[MMH_STAGE_AFTER_VAL_EPOCH] == 2);
  CHECK(rec.calls[MMH_STAGE_BEFORE_SAVE_CHECKPOINT] == 2);
  CHECK(rec.calls[MMH_STAGE_ON_EXCEPTION] == 0);
  CHECK(rec.order[0] == MMH_STAGE_BEFORE_RUN);
  CHECK(rec.order[1] == MMH_STAGE_BEFORE_TRAIN);
  CHECK(rec.order[2] == MMH_STAGE_BEFORE_TRAIN_EPOCH);
  CHECK(rec.order[rec.n - 1] == MMH_STAGE_AFTER_RUN);
  for (int i = 0; i < rec.n_iters; ++i) CHECK(rec.iters[i] == i);
  CHECK(mmh_runner_epoch(runner) == 2);
  CHECK(mmh_runner_iter(runner) == 8);
  /* The ctx outside its call: an error, not a crash. */
  double v = 0;
  CHECK(mmh_ctx_scalar(rec.saved_ctx, "train/loss", &v) == MMH_E_FAILED_PRECONDITION);
  CHECK(mmh_ctx_stage(rec.saved_ctx) == -1);
  /* Metrics of the last validation, and the checkpoint path. */
  char buf[512];
  CHECK(mmh_runner_metrics_json(runner, buf, sizeof buf) > 0);
  CHECK(strstr(buf, "\"acc\":1") != NULL || strstr(buf, "\"acc\":1.0") != NULL);
  const size_t n = mmh_runner_last_checkpoint(runner, buf, sizeof buf);
  CHECK(n > 0 && strstr(buf, "epoch_2.pth") != NULL);
  CHECK(rec.frees == 0);
  mmh_runner_destroy(runner);
  CHECK(rec.frees == 1);
}

static void test_only_masked_stages_are_called(void) {
  record_t rec;
  record_init(&rec);
  mmh_runner_t *runner = make_runner("mask", 1, NULL);
  CHECK_OK(add_record_hook(runner, &rec, "epochs_only", MMH_PRIORITY_LOW,
                           MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_EPOCH)));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(rec.n == 1);
  CHECK(rec.order[0] == MMH_STAGE_AFTER_TRAIN_EPOCH);
  mmh_runner_destroy(runner);
  CHECK(rec.frees == 1);
}

static void test_priorities_interleave_with_builtin_hooks(void) {
  record_t a, b;
  record_init(&a);
  record_init(&b);
  mmh_runner_t *runner = make_runner("prio", 1, NULL);
  CHECK_OK(add_record_hook(runner, &a, "c_high", MMH_PRIORITY_HIGH,
                           MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER)));
  CHECK_OK(add_record_hook(runner, &b, "c_lowest", MMH_PRIORITY_LOWEST,
                           MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER)));
  char info[8192];
  const size_t len = mmh_runner_hooks_info(runner, info, sizeof info);
  CHECK(len > 0 && len < sizeof info);
  const char *block = strstr(info, "after_train_iter:\n");
  CHECK(block != NULL);
  if (block) {
    const char *rt = strstr(block, "RuntimeInfoHook");
    const char *hi = strstr(block, "c_high");
    const char *timer = strstr(block, "IterTimerHook");
    const char *ckpt = strstr(block, "CheckpointHook");
    const char *lo = strstr(block, "c_lowest");
    CHECK(rt && hi && timer && ckpt && lo);
    CHECK(rt < hi && hi < timer && timer < ckpt && ckpt < lo);
    CHECK(strstr(block, "(HIGH        ) c_high") != NULL);
  }
  /* Truncation: the full length is returned, the buffer holds a NUL-terminated prefix. */
  char small[8];
  CHECK(mmh_runner_hooks_info(runner, small, sizeof small) == len);
  CHECK(strlen(small) == 7);
  mmh_runner_destroy(runner);
  CHECK(a.frees == 1 && b.frees == 1);
}

static void test_registration_errors_free_user_data(void) {
  record_t rec;
  record_init(&rec);
  mmh_runner_t *runner = make_runner("regerr", 1, NULL);
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = "bad";
  d.fn = NULL;
  d.user_data = &rec;
  d.user_data_free = record_free;
  mmh_error_t *e = mmh_runner_register_hook(runner, &d);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(rec.frees == 1);
  d.fn = record_fn;
  d.priority = 101;
  e = mmh_runner_register_hook(runner, &d);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  CHECK(strstr(mmh_error_message(e), "priority") != NULL);
  mmh_error_free(e);
  CHECK(rec.frees == 2);
  d.priority = 50;
  d.stages = MMH_STAGE_BIT(MMH_STAGE_COUNT);
  e = mmh_runner_register_hook(runner, &d);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(rec.frees == 3);
  d.stages = MMH_STAGES_ALL;
  CHECK_OK(mmh_runner_register_hook(runner, &d));
  e = mmh_runner_register_hook(runner, &d); /* duplicate name */
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(rec.frees == 4);
  e = mmh_runner_register_hook(NULL, &d);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(rec.frees == 5);
  /* Removal frees the registered one. */
  CHECK_OK(mmh_runner_remove_hook(runner, "bad"));
  CHECK(rec.frees == 6);
  e = mmh_runner_remove_hook(runner, "bad");
  CHECK(mmh_error_code(e) == MMH_E_NOT_FOUND);
  mmh_error_free(e);
  mmh_runner_destroy(runner);
  CHECK(rec.frees == 6);
}

static void test_stop_and_request_stop(void) {
  record_t rec;
  record_init(&rec);
  rec.stop_at_epoch = 0;
  mmh_runner_t *runner = make_runner("stop", 5, NULL);
  CHECK_OK(add_record_hook(runner, &rec, "stopper", MMH_PRIORITY_NORMAL, MMH_STAGES_ALL));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(mmh_runner_epoch(runner) == 1); /* the epoch finished, then the loop stopped */
  CHECK(rec.calls[MMH_STAGE_AFTER_TRAIN] == 1);
  mmh_runner_destroy(runner);

  record_init(&rec);
  rec.request_stop_at_iter = 5;
  runner = make_runner("reqstop", 5, NULL);
  CHECK_OK(add_record_hook(runner, &rec, "requester", MMH_PRIORITY_NORMAL, MMH_STAGES_ALL));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(mmh_runner_iter(runner) == 6);
  CHECK(rec.calls[MMH_STAGE_AFTER_RUN] == 1);
  mmh_runner_destroy(runner);
}

/* A hook that destroys its own runner: the destroy is deferred to the end of the call. */
typedef struct {
  mmh_runner_t *runner;
  int calls_after_destroy;
  int destroyed;
  int frees;
} destroyer_t;

static mmh_hook_action_t destroyer_fn(mmh_hook_ctx_t *ctx, void *p) {
  destroyer_t *d = (destroyer_t *)p;
  if (d->destroyed) ++d->calls_after_destroy;
  if (!d->destroyed && mmh_ctx_stage(ctx) == MMH_STAGE_AFTER_TRAIN_ITER && mmh_ctx_iter(ctx) == 1) {
    mmh_runner_destroy(d->runner);
    mmh_runner_destroy(d->runner); /* a second request while pending is ignored */
    d->destroyed = 1;
    /* The handle stays usable by this call until it returns. */
    CHECK(mmh_runner_iter(d->runner) == 1);
    mmh_error_t *e = mmh_runner_val(d->runner);
    CHECK(mmh_error_code(e) == MMH_E_FAILED_PRECONDITION);
    mmh_error_free(e);
  }
  return MMH_HOOK_CONTINUE;
}
static void destroyer_free(void *p) { ((destroyer_t *)p)->frees++; }

static void test_destroy_from_inside_a_hook_is_deferred(void) {
  destroyer_t d;
  memset(&d, 0, sizeof d);
  d.runner = make_runner("destroy_in_hook", 3, NULL);
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  desc.name = "destroyer";
  desc.stages = MMH_STAGES_ALL;
  desc.fn = destroyer_fn;
  desc.user_data = &d;
  desc.user_data_free = destroyer_free;
  CHECK_OK(mmh_runner_register_hook(d.runner, &desc));
  /* Used to crash after the hook returned (SIGSEGV in the freed runner). */
  CHECK_OK(mmh_runner_train(d.runner));
  CHECK(d.destroyed == 1);
  CHECK(d.frees == 1);              /* the runner, and with it the hook, is gone now */
  CHECK(d.calls_after_destroy > 0); /* the run stopped gracefully: after_train_iter ... after_run */
  CHECK(d.calls_after_destroy < 40); /* ... after the current iteration, not 3 epochs later */
}

static mmh_hook_action_t abort_save_fn(mmh_hook_ctx_t *ctx, void *p) {
  (void)p;
  CHECK(mmh_ctx_set_error(ctx, "refusing to save") == MMH_OK);
  return MMH_HOOK_ABORT;
}

/* An abort at before_save_checkpoint: no checkpoint was written, and last_checkpoint must not
 * name one (it named the file that was never written before). */
static void test_failed_save_leaves_no_last_checkpoint(void) {
  mmh_runner_t *runner = make_runner("abort_save", 2, NULL);
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  desc.name = "save_refuser";
  desc.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_SAVE_CHECKPOINT);
  desc.fn = abort_save_fn;
  CHECK_OK(mmh_runner_register_hook(runner, &desc));
  mmh_error_t *e = mmh_runner_train(runner);
  CHECK(mmh_error_code(e) == MMH_E_HOOK_ABORTED);
  mmh_error_free(e);
  char buf[512];
  CHECK(mmh_runner_last_checkpoint(runner, buf, sizeof buf) == 0);
  CHECK(strcmp(buf, "") == 0);
  mmh_runner_destroy(runner);
}

static void test_abort_names_hook_and_runs_on_exception(void) {
  record_t rec;
  record_init(&rec);
  rec.abort_at_iter = 2;
  mmh_runner_t *runner = make_runner("abort", 2, NULL);
  CHECK_OK(add_record_hook(runner, &rec, "guard", MMH_PRIORITY_NORMAL, MMH_STAGES_ALL));
  mmh_error_t *e = mmh_runner_train(runner);
  CHECK(mmh_error_code(e) == MMH_E_HOOK_ABORTED);
  CHECK(strstr(mmh_error_message(e), "guard") != NULL);
  CHECK(strstr(mmh_error_message(e), "after_train_iter") != NULL);
  CHECK(strstr(mmh_error_message(e), "loss looked wrong") != NULL);
  mmh_error_free(e);
  CHECK(rec.saw_on_exception == 1);
  CHECK(strstr(rec.error_text, "loss looked wrong") != NULL);
  CHECK(rec.order[rec.n - 1] == MMH_STAGE_AFTER_RUN);
  mmh_runner_destroy(runner);
  CHECK(rec.frees == 1);
}

/* Reads tensors and learning rates inside hooks. */
typedef struct {
  int checked;
  double lr_seen;
} tensor_probe_t;

static mmh_hook_action_t tensor_fn(mmh_hook_ctx_t *ctx, void *p) {
  tensor_probe_t *t = (tensor_probe_t *)p;
  if (mmh_ctx_stage(ctx) == MMH_STAGE_BEFORE_TRAIN_ITER && mmh_ctx_batch_idx(ctx) == 1) {
    const mmh_tensor_t *inputs = NULL;
    CHECK(mmh_ctx_tensor(ctx, "inputs", &inputs) == MMH_OK);
    CHECK(mmh_tensor_ndim(inputs) == 2);
    CHECK(mmh_tensor_shape(inputs)[0] == 3 && mmh_tensor_shape(inputs)[1] == 2);
    double v[6];
    CHECK_OK(mmh_tensor_copy_to_host_f64(inputs, v, 6));
    /* batch 1 holds samples 3, 4, 5: inputs [i/12, 1 - i/12] */
    CHECK(v[0] > 0.2499 && v[0] < 0.2501);
    CHECK(v[1] > 0.7499 && v[1] < 0.7501);
    mmh_error_t *e = mmh_tensor_copy_to_host_f64(inputs, v, 5);
    CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
    mmh_error_free(e);
    mmh_tensor_t *kept = NULL;
    CHECK_OK(mmh_tensor_retain(inputs, &kept));
    CHECK(mmh_tensor_numel(kept) == 6);
    struct DLManagedTensor *dl = NULL;
    CHECK_OK(mmh_tensor_to_dlpack(kept, &dl));
    CHECK(dl != NULL);
    if (dl) {
      /* DLManagedTensor's deleter is its last member: call through a minimal mirror. */
      typedef struct {
        void *data;
        int32_t device[2];
        int32_t ndim;
        uint8_t dtype[4];
        int64_t *shape;
        int64_t *strides;
        uint64_t byte_offset;
      } dl_tensor_t;
      typedef struct dl_managed {
        dl_tensor_t t;
        void *ctx;
        void (*deleter)(struct dl_managed *);
      } dl_managed_t;
      dl_managed_t *m = (dl_managed_t *)dl;
      CHECK(m->t.ndim == 2 && m->t.shape[0] == 3);
      m->deleter(m);
    }
    mmh_tensor_free(kept);
    const mmh_tensor_t *missing = NULL;
    CHECK(mmh_ctx_tensor(ctx, "nope", &missing) == MMH_E_NOT_FOUND);
    CHECK(mmh_ctx_param_group_count(ctx) == 1);
    CHECK(mmh_ctx_lr(ctx, 0, &t->lr_seen) == MMH_OK);
    CHECK(mmh_ctx_lr(ctx, 7, &t->lr_seen) == MMH_E_INVALID_ARGUMENT);
    /* Rates that would train to NaN, or overflow float later, are refused where they enter. */
    /* Non-UTF-8 keys broke the run's JSON log at after_run (blamed on LoggerHook). */
    CHECK(mmh_ctx_update_scalar(ctx, "train/\xc3\x28", 1.0) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_update_scalar(ctx, "train/\xed\xa0\x80", 1.0) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_update_scalar(ctx, "train/\xc3\xa9t\xc3\xa9", 1.0) == MMH_OK); /* "été" */
    CHECK(mmh_ctx_set_lr(ctx, 0, INFINITY) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_set_lr(ctx, 0, NAN) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_set_lr(ctx, 0, 1e308) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_set_lr(ctx, 0, -0.1) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_set_lr(ctx, 0, 0.05) == MMH_OK);
    t->checked++;
  }
  if (mmh_ctx_stage(ctx) == MMH_STAGE_AFTER_TRAIN_ITER && mmh_ctx_batch_idx(ctx) == 1) {
    const mmh_tensor_t *loss = NULL;
    CHECK(mmh_ctx_tensor(ctx, "loss", &loss) == MMH_OK);
    CHECK(mmh_tensor_numel(loss) == 1);
    double lr = 0;
    CHECK(mmh_ctx_lr(ctx, 0, &lr) == MMH_OK);
    CHECK(lr == 0.05);
    CHECK(mmh_ctx_update_scalar(ctx, "train/custom", 3.5) == MMH_OK);
    double custom = 0;
    CHECK(mmh_ctx_scalar(ctx, "train/custom", &custom) == MMH_OK && custom == 3.5);
    t->checked++;
  }
  if (mmh_ctx_stage(ctx) == MMH_STAGE_AFTER_VAL_EPOCH) {
    const char *name = NULL;
    double value = 0;
    CHECK(mmh_ctx_metric_count(ctx) == 1);
    CHECK(mmh_ctx_metric_at(ctx, 0, &name, &value) == MMH_OK);
    CHECK(name && strcmp(name, "acc") == 0 && value == 1.0);
    CHECK(mmh_ctx_metric_at(ctx, 1, &name, &value) == MMH_E_NOT_FOUND);
    t->checked++;
  }
  return MMH_HOOK_CONTINUE;
}

static void test_tensors_scalars_lr_metrics(void) {
  tensor_probe_t probe = {0, 0};
  mmh_runner_t *runner = make_runner("tensors", 1, NULL);
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = "probe";
  d.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_TRAIN_ITER) |
             MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER) | MMH_STAGE_BIT(MMH_STAGE_AFTER_VAL_EPOCH);
  d.fn = tensor_fn;
  d.user_data = &probe;
  CHECK_OK(mmh_runner_register_hook(runner, &d));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(probe.checked == 3);
  CHECK(probe.lr_seen == 0.1);
  mmh_runner_destroy(runner);
}

/* State through checkpoints: put at save, get at load (resume). */
static mmh_hook_action_t state_fn(mmh_hook_ctx_t *ctx, void *p) {
  record_t *r = (record_t *)p;
  if (mmh_ctx_stage(ctx) == MMH_STAGE_BEFORE_SAVE_CHECKPOINT) {
    const int64_t value = 1000 + mmh_ctx_iter(ctx);
    /* A key Python's torch.load could not decode (UnicodeDecodeError) is refused. */
    CHECK(mmh_ctx_checkpoint_put(ctx, "bad\xff", &value, sizeof value) == MMH_E_INVALID_ARGUMENT);
    CHECK(mmh_ctx_checkpoint_put(ctx, "counter", &value, sizeof value) == MMH_OK);
  }
  if (mmh_ctx_stage(ctx) == MMH_STAGE_AFTER_LOAD_CHECKPOINT) {
    int64_t value = 0;
    size_t len = 0;
    CHECK(mmh_ctx_checkpoint_get(ctx, "counter", &value, sizeof value, &len) == MMH_OK);
    CHECK(len == sizeof value);
    r->restored = value;
    CHECK(mmh_ctx_checkpoint_get(ctx, "absent", &value, sizeof value, &len) == MMH_E_NOT_FOUND);
  }
  if (mmh_ctx_stage(ctx) == MMH_STAGE_AFTER_TRAIN_ITER) {
    int64_t value = 1;
    CHECK(mmh_ctx_checkpoint_put(ctx, "counter", &value, sizeof value) ==
          MMH_E_FAILED_PRECONDITION);
  }
  return MMH_HOOK_CONTINUE;
}

static void test_checkpoint_state_across_resume(void) {
  record_t rec;
  record_init(&rec);
  mmh_hook_desc_t d;
  mmh_hook_desc_init(&d, sizeof d);
  d.name = "stateful";
  d.stages = MMH_STAGE_BIT(MMH_STAGE_BEFORE_SAVE_CHECKPOINT) |
             MMH_STAGE_BIT(MMH_STAGE_AFTER_LOAD_CHECKPOINT) |
             MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  d.fn = state_fn;
  d.user_data = &rec;
  mmh_runner_t *runner = make_runner("state", 2, NULL);
  CHECK_OK(mmh_runner_register_hook(runner, &d));
  CHECK_OK(mmh_runner_train(runner));
  mmh_runner_destroy(runner);
  runner = make_runner("state", 3, ", \"resume\": true");
  CHECK_OK(mmh_runner_register_hook(runner, &d));
  CHECK_OK(mmh_runner_train(runner));
  CHECK(rec.restored == 1008);
  CHECK(mmh_runner_iter(runner) == 12);
  mmh_runner_destroy(runner);
}

/* A hook type and a dataset type implemented in C, named from the JSON config. */
static int g_factory_frees = 0;
static int g_factory_hook_calls = 0;
static void factory_free(void *p) {
  (void)p;
  ++g_factory_frees;
}
static mmh_hook_action_t counting_fn(mmh_hook_ctx_t *ctx, void *p) {
  (void)ctx;
  (void)p;
  ++g_factory_hook_calls;
  return MMH_HOOK_CONTINUE;
}
static mmh_code_t counting_factory(const char *entry_json, mmh_hook_desc_t *desc, void *p) {
  (void)p;
  if (strstr(entry_json, "\"every\"") == NULL) return MMH_E_CONFIG;
  desc->name = "CountingHook";
  desc->priority = MMH_PRIORITY_LOW;
  desc->stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  desc->fn = counting_fn;
  return MMH_OK;
}

static int64_t cds_len(void *p) {
  (void)p;
  return 9;
}
static mmh_code_t cds_get(int64_t index, uint64_t seed, mmh_sample_t *s, void *p) {
  (void)seed;
  (void)p;
  const float x[2] = {(float)index / 9.0f, 1.0f - (float)index / 9.0f};
  const float y[1] = {1.0f};
  const int64_t shape_x[1] = {2}, shape_y[1] = {1};
  if (mmh_sample_set_f32(s, "inputs", x, shape_x, 1) != MMH_OK) return MMH_E_INTERNAL;
  return mmh_sample_set_f32(s, "targets", y, shape_y, 1);
}

static void test_type_registries(void) {
  CHECK_OK(mmh_register_hook_type("CountingHook", counting_factory, NULL, factory_free));
  mmh_error_t *e = mmh_register_hook_type("CountingHook", counting_factory, NULL, factory_free);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  CHECK(g_factory_frees == 1); /* the rejected registration's user data */
  mmh_dataset_desc_t dd;
  mmh_dataset_desc_init(&dd, sizeof dd);
  dd.len = cds_len;
  dd.get = cds_get;
  CHECK_OK(mmh_register_dataset_type("CToyDataset", &dd));

  mmh_runner_t *runner =
      make_runner("types", 1, ", \"custom_hooks\": [{\"type\": \"CountingHook\", \"every\": 1}]");
  CHECK(runner != NULL);
  mmh_runner_destroy(runner);
  /* The dataset from C feeds training: 9 samples, batch 3 = 3 iterations. */
  g_train_dataset = "CToyDataset";
  char *cfg =
      toy_config("types2", 1, ", \"custom_hooks\": [{\"type\": \"CountingHook\", \"every\": 1}]");
  g_train_dataset = "ToyDataset";
  mmh_runner_t *r2 = NULL;
  CHECK_OK(mmh_runner_create(cfg, &r2));
  free(cfg);
  if (r2) {
    CHECK_OK(mmh_runner_train(r2));
    CHECK(mmh_runner_iter(r2) == 3);
    CHECK(g_factory_hook_calls == 3);
    mmh_runner_destroy(r2);
  }
  /* A factory that rejects its entry: a config error naming the entry. */
  cfg = toy_config("types3", 1, ", \"custom_hooks\": [{\"type\": \"CountingHook\"}]");
  e = mmh_runner_create(cfg, &r2);
  free(cfg);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "custom_hooks[0]") != NULL);
  mmh_error_free(e);
  CHECK_OK(mmh_unregister_type("CountingHook"));
  CHECK(g_factory_frees == 2);
  CHECK_OK(mmh_unregister_type("CToyDataset"));
  e = mmh_unregister_type("CountingHook");
  CHECK(mmh_error_code(e) == MMH_E_NOT_FOUND);
  mmh_error_free(e);
}

/* A len() that lies, as a buggy or hostile C dataset can. */
static int64_t huge_len(void *user_data) {
  (void)user_data;
  return INT64_MAX;
}

static mmh_code_t get_99(int64_t index, uint64_t seed, mmh_sample_t *s, void *p) {
  (void)index, (void)seed, (void)s, (void)p;
  return (mmh_code_t)99;
}
static mmh_code_t get_bad_shape(int64_t index, uint64_t seed, mmh_sample_t *s, void *p) {
  (void)index, (void)seed, (void)p;
  const float x[2] = {1, 2};
  const int64_t shape[1] = {-2};
  return mmh_sample_set_f32(s, "inputs", x, shape, 1);
}

/* A C dataset's failing get: the code stays inside mmh_code_t and the message says why. */
static void test_dataset_get_errors_are_explained(void) {
  mmh_dataset_desc_t dd;
  mmh_dataset_desc_init(&dd, sizeof dd);
  dd.len = cds_len;
  dd.get = get_99;
  CHECK_OK(mmh_register_dataset_type("CGet99", &dd));
  dd.get = get_bad_shape;
  CHECK_OK(mmh_register_dataset_type("CBadShape", &dd));
  const char *types[2] = {"CGet99", "CBadShape"};
  for (int i = 0; i < 2; ++i) {
    g_train_dataset = types[i];
    char *cfg = toy_config(i == 0 ? "get99" : "badshape", 1, NULL);
    g_train_dataset = "ToyDataset";
    mmh_runner_t *r = NULL;
    CHECK_OK(mmh_runner_create(cfg, &r));
    free(cfg);
    mmh_error_t *e = mmh_runner_train(r);
    if (i == 0) {
      /* Was returned as code 99, outside the enum. */
      CHECK(mmh_error_code(e) == MMH_E_INTERNAL);
      CHECK(strstr(mmh_error_message(e), "returned 99, which is not an mmh_code_t") != NULL);
    } else {
      CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
      CHECK(strstr(mmh_error_message(e), "setting 'inputs'") != NULL);
      CHECK(strstr(mmh_error_message(e), "negative dimension -2") != NULL);
    }
    mmh_error_free(e);
    mmh_runner_destroy(r);
  }
  CHECK_OK(mmh_unregister_type("CGet99"));
  CHECK_OK(mmh_unregister_type("CBadShape"));
}

/* Section 2 of the hostile-input rules: inputs that used to kill the host process come back
 * as error codes naming what was wrong, and the process goes on. */
static void test_hostile_configs_return_errors(void) {
  mmh_runner_t *r = NULL;
  /* 100k levels of nesting: a stack overflow in a recursive copy before. */
  const size_t depth = 100000;
  char *deep = (char *)malloc(2 * depth + 32);
  size_t n = 0;
  n += (size_t)sprintf(deep, "{\"model\": ");
  memset(deep + n, '[', depth);
  n += depth;
  memset(deep + n, ']', depth);
  n += depth;
  strcpy(deep + n, "}");
  mmh_error_t *e = mmh_runner_create(deep, &r);
  free(deep);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "nested deeper than 256 levels") != NULL);
  CHECK(r == NULL);
  mmh_error_free(e);
  /* A key written twice: the last one won in silence before. */
  e = mmh_runner_create("{\"model\": {\"type\": \"ToyModel\"}, \"model\": {}}", &r);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "model: duplicate key") != NULL);
  mmh_error_free(e);
  e = mmh_runner_create("[1, 2]", &r);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "config must be a JSON object, got an array") != NULL);
  mmh_error_free(e);
  /* max_epochs x iterations per epoch overflowing int64. */
  char *cfg = toy_config("hostile1", 1, NULL);
  char *p = strstr(cfg, "\"max_epochs\": 1");
  CHECK(p != NULL);
  if (p != NULL) {
    char *fixed = (char *)malloc(strlen(cfg) + 32);
    memcpy(fixed, cfg, (size_t)(p - cfg));
    sprintf(fixed + (p - cfg), "\"max_epochs\": 4611686018427387904%s",
            p + strlen("\"max_epochs\": 1"));
    CHECK(mmh_runner_create(fixed, &r) == NULL);
    e = mmh_runner_train(r);
    CHECK(mmh_error_code(e) == MMH_E_CONFIG);
    CHECK(strstr(mmh_error_message(e), "overflows") != NULL);
    mmh_error_free(e);
    mmh_runner_destroy(r);
    r = NULL;
    free(fixed);
  }
  free(cfg);
  /* A C dataset whose len() is INT64_MAX: "vector::reserve" or an allocation failure before. */
  mmh_dataset_desc_t dd;
  mmh_dataset_desc_init(&dd, sizeof dd);
  dd.len = huge_len;
  dd.get = cds_get;
  CHECK_OK(mmh_register_dataset_type("CHugeDataset", &dd));
  g_train_dataset = "CHugeDataset";
  cfg = toy_config("hostile2", 1, NULL);
  g_train_dataset = "ToyDataset";
  CHECK_OK(mmh_runner_create(cfg, &r));
  free(cfg);
  e = mmh_runner_train(r);
  CHECK(mmh_error_code(e) == MMH_E_CONFIG);
  CHECK(strstr(mmh_error_message(e), "train_dataloader.dataset: reports 9223372036854775807") !=
        NULL);
  mmh_error_free(e);
  mmh_runner_destroy(r);
  CHECK_OK(mmh_unregister_type("CHugeDataset"));
  /* Hook and type names must be UTF-8. */
  r = make_runner("hostile_utf8", 1, NULL);
  {
    mmh_hook_desc_t hd;
    mmh_hook_desc_init(&hd, sizeof hd);
    hd.name = "bad\xfe\xff";
    hd.stages = MMH_STAGES_ALL;
    hd.fn = abort_save_fn;
    e = mmh_runner_register_hook(r, &hd);
    CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
    CHECK(strstr(mmh_error_message(e), "not valid UTF-8") != NULL);
    mmh_error_free(e);
  }
  mmh_runner_destroy(r);
  e = mmh_register_dataset_type("\x80oops", &dd);
  CHECK(mmh_error_code(e) == MMH_E_INVALID_ARGUMENT);
  mmh_error_free(e);
  /* The process goes on: a normal run still trains. */
  r = make_runner("hostile3", 1, NULL);
  CHECK(r != NULL);
  if (r) {
    CHECK_OK(mmh_runner_train(r));
    CHECK(mmh_runner_iter(r) == 4);
    mmh_runner_destroy(r);
  }
}

static int g_log_records = 0;
static int g_log_warnings = 0;
static int g_log_frees = 0;
static void log_fn(int32_t level, const char *message, void *p) {
  (void)p;
  ++g_log_records;
  if (level == MMH_LOG_WARNING && message != NULL) ++g_log_warnings;
}
static void log_free(void *p) {
  (void)p;
  ++g_log_frees;
}

static void test_log_routing(void) {
  mmh_log_set(log_fn, NULL, log_free);
  mmh_runner_t *runner =
      make_runner("log", 1, ", \"load_from\": \"/nonexistent/x.pth\", \"resume\": false");
  mmh_error_t *e = mmh_runner_val(runner);
  CHECK(mmh_error_code(e) == MMH_E_CHECKPOINT);
  CHECK(strstr(mmh_error_message(e), "/nonexistent/x.pth") != NULL);
  mmh_error_free(e);
  mmh_runner_destroy(runner);
  CHECK(g_log_records > 0); /* at least the ERROR record of the failed run */
  mmh_log_set(NULL, NULL, NULL);
  CHECK(g_log_frees == 1);
  const int before = g_log_records;
  runner = make_runner("log2", 1, NULL);
  mmh_runner_destroy(runner);
  CHECK(g_log_records == before);
}

/* A log callback that calls back: creates (and so logs through) a runner of its own. */
static int g_reentrant_calls = 0;
static int g_reentrant_created = 0;
static void reentrant_log_fn(int32_t level, const char *message, void *p) {
  (void)level, (void)message, (void)p;
  ++g_reentrant_calls;
  if (g_reentrant_created) return;
  g_reentrant_created = 1;
  /* Its failing run logs an ERROR through the same host sink while this call is running. */
  mmh_runner_t *inner =
      make_runner("log_reentrant_inner", 1, ", \"load_from\": \"/nonexistent/inner.pth\"");
  CHECK(inner != NULL);
  if (inner) {
    mmh_error_t *e = mmh_runner_val(inner);
    CHECK(mmh_error_code(e) == MMH_E_CHECKPOINT);
    mmh_error_free(e);
    mmh_runner_destroy(inner);
  }
}
/* A user_data_free that installs another callback (as a Rust Drop may). */
static int g_reinstall_frees = 0;
static void reinstalling_free(void *p) {
  (void)p;
  ++g_reinstall_frees;
  mmh_log_set(NULL, NULL, NULL);
}

/* Both used to deadlock: the callback ran under spdlog's sink mutex, and the previous callback
 * was destroyed under the callback mutex. */
static void test_log_callbacks_may_call_back(void) {
  mmh_log_set(reentrant_log_fn, NULL, reinstalling_free);
  /* toy_config logs at WARNING and above: a failing run logs an ERROR. */
  mmh_runner_t *runner =
      make_runner("log_reentrant", 1, ", \"load_from\": \"/nonexistent/outer.pth\"");
  if (runner) {
    mmh_error_t *e = mmh_runner_val(runner);
    mmh_error_free(e);
    mmh_runner_destroy(runner);
  }
  mmh_log_set(log_fn, NULL, NULL); /* runs reinstalling_free, which calls mmh_log_set */
  CHECK(g_reinstall_frees == 1);
  mmh_log_set(NULL, NULL, NULL);
  CHECK(g_reentrant_calls >= 1);
  CHECK(g_reentrant_created == 1);
}

int main(int argc, char **argv) {
  if (argc > 1) g_work = argv[1];
  test_versions_and_names();
  test_errors_never_crash();
  test_train_trace_and_ownership();
  test_only_masked_stages_are_called();
  test_priorities_interleave_with_builtin_hooks();
  test_registration_errors_free_user_data();
  test_stop_and_request_stop();
  test_destroy_from_inside_a_hook_is_deferred();
  test_failed_save_leaves_no_last_checkpoint();
  test_abort_names_hook_and_runs_on_exception();
  test_tensors_scalars_lr_metrics();
  test_checkpoint_state_across_resume();
  test_type_registries();
  test_hostile_configs_return_errors();
  test_dataset_get_errors_are_explained();
  test_log_routing();
  test_log_callbacks_may_call_back();
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("all C ABI checks passed\n");
  return 0;
}
