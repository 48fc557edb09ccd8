/* Running the model from a hook (mmh_hook_ctx_forward) and host tensors (mmh_tensor_from_host),
 * in strict C99. Usage: test_capi_forward WORK_DIR REGRESSION_PT, where REGRESSION_PT is
 * tests/fixtures/scripted_dict_regression.pt (Linear(4, 1): weight [0.5, -0.25, 0.125, 1.0],
 * bias 0.1; "predict" gives {"pred"}, "tensor" gives {"raw"}). */
#include <math.h>
#include <stdint.h>

static int g_failures = 0;
static const char *g_work = "capi_forward_work";
static const char *g_train_dataset = "ToyDataset";
#include "toy_runner.h"

/* What the hooks saw, checked after the run. */
typedef struct {
  int calls;
  double first, second; /* two predictions of one input: eval mode makes them equal */
  double raw, pred;     /* the regression model's outputs for one input */
} seen_t;

/* Adds a hook named `name` calling `fn` with `seen` at `stage`. */
static void add_probe_hook(mmh_runner_t *r, const char *name, mmh_stage_t stage, mmh_hook_fn fn,
                           seen_t *seen) {
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  desc.name = name;
  desc.stages = MMH_STAGE_BIT(stage);
  desc.fn = fn;
  desc.user_data = seen;
  CHECK_OK(mmh_runner_add_hook(r, &desc, NULL, 0, NULL));
}

static mmh_tensor_t *host_f32(const float *data, int64_t rows, int64_t cols) {
  int64_t shape[2];
  mmh_tensor_t *t = NULL;
  shape[0] = rows;
  shape[1] = cols;
  CHECK_OK(mmh_tensor_from_host(MMH_DTYPE_F32, shape, 2, data,
                                (size_t)(rows * cols) * sizeof(float), &t));
  return t;
}

static double only_value(const mmh_tensor_t *t) {
  double v = NAN;
  size_t numel = 0;
  CHECK_OK(mmh_tensor_get_numel(t, &numel));
  CHECK(numel == 1);
  if (numel == 1) CHECK_OK(mmh_tensor_copy_to_host_f64(t, &v, 1));
  return v;
}

/* The ToyModel (Linear(2, 2) -> Linear(2, 1)): "predict" works from a hook, everything else
 * is a clear error. */
static mmh_hook_action_t toy_hook(mmh_hook_ctx_t *ctx, void *user_data) {
  seen_t *seen = (seen_t *)user_data;
  static const float x[2] = {0.25f, 0.75f};
  static const float wide[3] = {1.0f, 2.0f, 3.0f};
  const char *keys[2] = {"inputs", "inputs"};
  const mmh_tensor_t *inputs[2];
  mmh_tensor_t *in = host_f32(x, 1, 2);
  mmh_tensor_t *bad = host_f32(wide, 1, 3);
  mmh_tensor_t *out = NULL;
  const int64_t *shape = NULL;
  size_t ndim = 0;
  ++seen->calls;
  inputs[0] = in;
  inputs[1] = in;

  CHECK_OK(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "outputs", &out));
  CHECK_OK(mmh_tensor_get_ndim(out, &ndim));
  CHECK_OK(mmh_tensor_get_shape(out, &shape));
  CHECK(ndim == 2 && shape[0] == 1 && shape[1] == 1);
  seen->first = only_value(out);
  mmh_tensor_free(out);
  out = NULL;
  CHECK_OK(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "outputs", &out));
  seen->second = only_value(out);
  mmh_tensor_free(out);

  out = (mmh_tensor_t *)1; /* set to NULL on every error */
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "tensor", keys, inputs, 1, "outputs", &out),
            MMH_E_FAILED_PRECONDITION, "ToyModel");
  CHECK(out == NULL);
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "loss", keys, inputs, 1, "outputs", &out),
            MMH_E_INVALID_ARGUMENT, "the mode must be \"predict\" or \"tensor\"");
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "logits", &out), MMH_E_NOT_FOUND,
            "no output 'logits' (the model gave 'outputs')");
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 2, "outputs", &out),
            MMH_E_INVALID_ARGUMENT, "the key 'inputs' is given twice");
  inputs[0] = bad;
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "outputs", &out), MMH_E_TORCH,
            "mmh_hook_ctx_forward at after_train_epoch, mode 'predict': ");
  inputs[0] = NULL;
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "outputs", &out),
            MMH_E_INVALID_ARGUMENT, "inputs[0] ('inputs') is NULL");
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", NULL, inputs, 1, "outputs", &out),
            MMH_E_INVALID_ARGUMENT, "keys");
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", keys, inputs, 1, "outputs", NULL),
            MMH_E_INVALID_ARGUMENT, "out");
  CHECK(out == NULL);
  mmh_tensor_free(in);
  mmh_tensor_free(bad);
  return MMH_HOOK_CONTINUE;
}

static void test_toy_model(void) {
  seen_t seen;
  mmh_runner_t *r = make_runner("forward_toy", 2, NULL);
  memset(&seen, 0, sizeof seen);
  if (r == NULL) return;
  add_probe_hook(r, "sampler", MMH_STAGE_AFTER_TRAIN_EPOCH, toy_hook, &seen);
  /* Training goes on after each forward from the hook, every iteration of both epochs. */
  CHECK_OK(mmh_runner_train(r));
  CHECK(seen.calls == 2);
  CHECK(isfinite(seen.first) && seen.first == seen.second);
  {
    int64_t iter = 0;
    CHECK_OK(mmh_runner_get_iter(r, &iter));
    CHECK(iter == 8);
  }
  mmh_runner_destroy(r);
}

/* The regression model: "tensor" and "predict" from a hook give w.x + b. */
static mmh_hook_action_t regression_hook(mmh_hook_ctx_t *ctx, void *user_data) {
  seen_t *seen = (seen_t *)user_data;
  static const float x[4] = {1.0f, 2.0f, 4.0f, -0.5f};
  const char *key = "inputs";
  mmh_tensor_t *in = host_f32(x, 1, 4);
  const mmh_tensor_t *input = in;
  mmh_tensor_t *out = NULL;
  ++seen->calls;
  CHECK_OK(mmh_hook_ctx_forward(ctx, "tensor", &key, &input, 1, "raw", &out));
  seen->raw = only_value(out);
  mmh_tensor_free(out);
  out = NULL;
  CHECK_OK(mmh_hook_ctx_forward(ctx, "predict", &key, &input, 1, "pred", &out));
  seen->pred = only_value(out);
  mmh_tensor_free(out);
  out = NULL;
  CHECK_ERR(mmh_hook_ctx_forward(ctx, "predict", &key, &input, 1, "raw", &out), MMH_E_NOT_FOUND,
            "no output 'raw' (the model gave 'pred')");
  mmh_tensor_free(in);
  /* The ToyDataset's 2-wide inputs do not fit this model: stop before the first batch. */
  CHECK_OK(mmh_hook_ctx_set_error(ctx, "checked"));
  return MMH_HOOK_ABORT;
}

static void test_regression_model(const char *fixture) {
  seen_t seen;
  mmh_runner_t *r = NULL;
  char cfg[2048];
  snprintf(cfg, sizeof cfg,
           "{\"work_dir\": \"%s/forward_regression\","
           " \"model\": {\"type\": \"TorchScriptModel\", \"path\": \"%s\"},"
           " \"val_dataloader\": " TOY_LOADER("ToyDataset") ","
           " \"val_evaluator\": {\"type\": \"ToyMetric\"}, \"val_cfg\": {},"
           " \"log_level\": \"WARNING\"}",
           g_work, fixture);
  CHECK_OK(mmh_runner_create(cfg, &r));
  if (r == NULL) return;
  memset(&seen, 0, sizeof seen);
  add_probe_hook(r, "probe", MMH_STAGE_BEFORE_VAL_EPOCH, regression_hook, &seen);
  CHECK_ERR(mmh_runner_val(r), MMH_E_HOOK_ABORTED, "checked");
  CHECK(seen.calls == 1);
  /* 0.5 * 1 - 0.25 * 2 + 0.125 * 4 + 1.0 * -0.5 + 0.1 */
  CHECK(fabs(seen.raw - 0.1) < 1e-6);
  CHECK(fabs(seen.pred - 0.1) < 1e-6);
  mmh_runner_destroy(r);
}

static void test_tensor_from_host(void) {
  static const int64_t data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3};
  mmh_tensor_t *t = NULL;
  double back[6];
  size_t i;
  CHECK_OK(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, data, sizeof data, &t));
  CHECK_OK(mmh_tensor_copy_to_host_f64(t, back, 6));
  for (i = 0; i < 6; ++i) CHECK(back[i] == (double)data[i]);
  mmh_tensor_free(t);

  t = (mmh_tensor_t *)1;
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, data, 5 * sizeof(int64_t), &t),
            MMH_E_INVALID_ARGUMENT, "nbytes is 40 but the shape and dtype need 48");
  CHECK(t == NULL);
  CHECK_ERR(mmh_tensor_from_host(9, shape, 2, data, sizeof data, &t), MMH_E_INVALID_ARGUMENT,
            "dtype 9 is not an mmh_dtype_t");
  shape[0] = -2;
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, data, sizeof data, &t),
            MMH_E_INVALID_ARGUMENT, "shape[0] is -2");
  shape[0] = INT64_MAX;
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, data, sizeof data, &t),
            MMH_E_INVALID_ARGUMENT, "overflows");
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, NULL, 2, data, sizeof data, &t),
            MMH_E_INVALID_ARGUMENT, "shape is NULL");
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, NULL, sizeof data, &t),
            MMH_E_INVALID_ARGUMENT, "data is NULL");
  CHECK_ERR(mmh_tensor_from_host(MMH_DTYPE_I64, shape, 2, data, sizeof data, NULL),
            MMH_E_INVALID_ARGUMENT, "out is NULL");
  /* A scalar: no shape. */
  CHECK_OK(mmh_tensor_from_host(MMH_DTYPE_I64, NULL, 0, data, sizeof(int64_t), &t));
  CHECK(only_value(t) == 1.0);
  mmh_tensor_free(t);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s WORK_DIR REGRESSION_PT\n", argv[0]);
    return 2;
  }
  g_work = argv[1];
  (void)g_train_dataset;
  test_tensor_from_host();
  test_toy_model();
  test_regression_model(argv[2]);
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("all forward-from-hook checks passed\n");
  return 0;
}
