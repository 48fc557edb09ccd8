/* Batch-level datasets from C (mmh_batch_dataset_type_register): a batch dataset equivalent to
 * a per-sample one trains bit-identically, its fill gets the sampler's indices, bad
 * declarations and failing fills are errors naming the type, the field and the stage, and
 * user_data_free runs exactly once. Usage: test_capi_batch_dataset WORK_DIR */
#ifndef MMH_WARN_DEPRECATED
#define MMH_WARN_DEPRECATED
#endif
#include <mmhook.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;
static const char *g_work = "/tmp/mmhook_capi_batch_dataset";
static const char *g_train_dataset = "ToyDataset";

#include "toy_runner.h"

#define N_SAMPLES 12
#define MAX_RECORDED 256

/* What a dataset saw: the indices its callbacks were given, in order. */
typedef struct {
  int64_t indices[MAX_RECORDED];
  size_t count;
  int frees;
} record_t;

static void record_index(record_t *r, int64_t index) {
  if (r->count < MAX_RECORDED) r->indices[r->count++] = index;
}

static void count_free(void *user_data) { ++((record_t *)user_data)->frees; }

static int64_t toy_len(void *user_data) {
  (void)user_data;
  return N_SAMPLES;
}

/* The per-sample twin of the built-in ToyDataset (src/data/toy_dataset.cpp). */
static mmh_code_t toy_get(int64_t index, uint64_t seed, mmh_sample_t *sample, void *user_data) {
  (void)seed;
  record_index((record_t *)user_data, index);
  const double x = (double)index / (double)N_SAMPLES;
  const float inputs[2] = {(float)x, (float)(1.0 - x)};
  const float targets[1] = {1.0f};
  const int64_t shape[1] = {2};
  const int64_t tshape[1] = {1};
  mmh_error_t *e = mmh_sample_set_array_f32(sample, "inputs", inputs, shape, 1);
  if (e == NULL) e = mmh_sample_set_array_f32(sample, "targets", targets, tshape, 1);
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* The same dataset, a batch at a time. */
static mmh_code_t toy_fill(const int64_t *indices, const uint64_t *seeds, size_t n,
                           mmh_batch_t *batch, void *user_data) {
  (void)seeds;
  float *inputs = NULL;
  float *targets = NULL;
  size_t numel = 0;
  mmh_error_t *e = mmh_batch_get_buffer(batch, 0, (void **)&inputs, &numel);
  if (e != NULL || numel != 2 * n) goto fail;
  e = mmh_batch_get_buffer(batch, 1, (void **)&targets, &numel);
  if (e != NULL || numel != n) goto fail;
  for (size_t i = 0; i < n; ++i) {
    record_index((record_t *)user_data, indices[i]);
    const double x = (double)indices[i] / (double)N_SAMPLES;
    inputs[2 * i] = (float)x;
    inputs[2 * i + 1] = (float)(1.0 - x);
    targets[i] = 1.0f;
  }
  return MMH_OK;
fail : {
  const mmh_code_t code = e != NULL ? mmh_error_code(e) : MMH_E_INTERNAL;
  mmh_error_free(e);
  return code;
}
}

static const int64_t k_inputs_shape[1] = {2};
static const int64_t k_targets_shape[1] = {1};

/* Registers a batch dataset with the toy fields and the given fill. */
static mmh_error_t *register_batch(const char *name, mmh_batch_fill_fn fill, record_t *rec) {
  mmh_batch_field_t inputs;
  mmh_batch_field_init(&inputs, sizeof inputs);
  inputs.key = "inputs";
  inputs.dtype = MMH_DTYPE_F32;
  inputs.shape = k_inputs_shape;
  inputs.ndim = 1;
  mmh_batch_field_t targets;
  mmh_batch_field_init(&targets, sizeof targets);
  targets.key = "targets";
  targets.shape = k_targets_shape;
  targets.ndim = 1;
  const mmh_batch_field_t *fields[2] = {&inputs, &targets};
  mmh_batch_dataset_desc_t d;
  mmh_batch_dataset_desc_init(&d, sizeof d);
  d.len = toy_len;
  d.fill = fill;
  d.fields = fields;
  d.num_fields = 2;
  d.user_data = rec;
  d.user_data_free = count_free;
  return mmh_batch_dataset_type_register(name, &d);
}

/* Training losses, recorded by a hook after each train iteration. */
#define MAX_LOSSES 64
typedef struct {
  double losses[MAX_LOSSES];
  size_t count;
} losses_t;

static mmh_hook_action_t record_loss(mmh_hook_ctx_t *ctx, void *user_data) {
  losses_t *l = (losses_t *)user_data;
  const mmh_tensor_t *t = NULL;
  CHECK_OK(mmh_hook_ctx_get_tensor(ctx, "loss", &t));
  if (t != NULL && l->count < MAX_LOSSES)
    CHECK_OK(mmh_tensor_copy_to_host_f64(t, &l->losses[l->count++], 1));
  return MMH_HOOK_CONTINUE;
}

/* Trains 3 epochs of a shuffled toy loader (batch 5, so a short last batch) over `dataset`. */
/* Whether two runs logged the same losses: bit-identical training gives equal doubles, and
 * comparing values (not bytes) is what that means for doubles. */
static int same_losses(const double *a, const double *b) {
  for (size_t i = 0; i < MAX_LOSSES; ++i)
    if (a[i] != b[i]) return 0;
  return 1;
}

static mmh_error_t *train(const char *sub, const char *dataset, int num_workers, losses_t *out) {
  char *cfg = (char *)malloc(8192);
  snprintf(cfg, 8192,
           "{\"work_dir\": \"%s/%s\", \"model\": {\"type\": \"ToyModel\"},"
           " \"train_dataloader\": {\"batch_size\": 5, \"num_workers\": %d,"
           " \"sampler\": {\"type\": \"DefaultSampler\", \"shuffle\": true},"
           " \"dataset\": {\"type\": \"%s\"}},"
           " \"train_cfg\": {\"by_epoch\": true, \"max_epochs\": 3},"
           " \"optim_wrapper\": {\"optimizer\": {\"type\": \"SGD\", \"lr\": 0.1}},"
           " \"randomness\": {\"seed\": 7}, \"log_level\": \"WARNING\"}",
           g_work, sub, num_workers, dataset);
  mmh_runner_t *r = NULL;
  mmh_error_t *err = mmh_runner_create(cfg, &r);
  free(cfg);
  if (err != NULL) return err;
  mmh_hook_desc_t h;
  mmh_hook_desc_init(&h, sizeof h);
  h.name = "RecordLoss";
  h.stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
  h.fn = record_loss;
  h.user_data = out;
  CHECK_OK(mmh_runner_add_hook(r, &h, NULL, 0, NULL));
  err = mmh_runner_train(r);
  mmh_runner_destroy(r);
  return err;
}

/* Same losses bit for bit and the same indices in the same order as the per-sample twin, with
 * and without loader workers; user_data_free runs once per registration. */
static void test_batch_equals_per_sample(void) {
  record_t per_sample = {{0}, 0, 0};
  record_t batched = {{0}, 0, 0};
  mmh_dataset_desc_t dd;
  mmh_dataset_desc_init(&dd, sizeof dd);
  dd.len = toy_len;
  dd.get = toy_get;
  dd.user_data = &per_sample;
  dd.user_data_free = count_free;
  CHECK_OK(mmh_dataset_type_register("CToySample", &dd));
  CHECK_OK(register_batch("CToyBatch", toy_fill, &batched));

  losses_t a = {{0}, 0};
  losses_t b = {{0}, 0};
  losses_t builtin = {{0}, 0};
  CHECK_OK(train("sample", "CToySample", 0, &a));
  CHECK_OK(train("batch", "CToyBatch", 0, &b));
  CHECK_OK(train("builtin", "ToyDataset", 0, &builtin));
  CHECK(a.count == 9 && b.count == 9 && builtin.count == 9);
  CHECK(same_losses(a.losses, b.losses));
  CHECK(same_losses(builtin.losses, b.losses));
  /* The sampler's indices: 3 shuffled permutations of 0..11, the same for both. */
  CHECK(per_sample.count == 3 * N_SAMPLES && batched.count == 3 * N_SAMPLES);
  CHECK(memcmp(per_sample.indices, batched.indices, sizeof batched.indices) == 0);
  int identity = 1;
  for (size_t e = 0; e < 3; ++e) {
    int seen[N_SAMPLES] = {0};
    for (size_t i = 0; i < N_SAMPLES; ++i) {
      const int64_t idx = batched.indices[e * N_SAMPLES + i];
      CHECK(idx >= 0 && idx < N_SAMPLES);
      if (idx >= 0 && idx < N_SAMPLES) ++seen[idx];
      if (idx != (int64_t)i) identity = 0;
    }
    for (size_t i = 0; i < N_SAMPLES; ++i) CHECK(seen[i] == 1);
  }
  CHECK(!identity); /* shuffled */

  /* Loader workers prefetch in order: the same losses. */
  losses_t w = {{0}, 0};
  CHECK_OK(train("batch_workers", "CToyBatch", 2, &w));
  CHECK(same_losses(w.losses, b.losses));

  CHECK(batched.frees == 0);
  CHECK_OK(mmh_dataset_type_unregister("CToyBatch"));
  CHECK_OK(mmh_dataset_type_unregister("CToySample"));
  CHECK(batched.frees == 1 && per_sample.frees == 1);
  CHECK_ERR(mmh_dataset_type_unregister("CToyBatch"), MMH_E_NOT_FOUND, "CToyBatch");
}

static mmh_code_t fill_fails(const int64_t *indices, const uint64_t *seeds, size_t n,
                             mmh_batch_t *batch, void *user_data) {
  (void)indices, (void)seeds, (void)n, (void)user_data;
  CHECK_ERR(mmh_batch_set_error(batch, NULL), MMH_E_INVALID_ARGUMENT, "message is NULL");
  CHECK_ERR(mmh_batch_set_error(batch, "bad\xff"), MMH_E_INVALID_ARGUMENT, "not valid UTF-8");
  CHECK_OK(mmh_batch_set_error(batch, "disk on fire"));
  return MMH_E_IO;
}

static mmh_code_t fill_returns_99(const int64_t *indices, const uint64_t *seeds, size_t n,
                                  mmh_batch_t *batch, void *user_data) {
  (void)indices, (void)seeds, (void)n, (void)batch, (void)user_data;
  return 99;
}

/* Fills only the first field. */
static mmh_code_t fill_one_field(const int64_t *indices, const uint64_t *seeds, size_t n,
                                 mmh_batch_t *batch, void *user_data) {
  (void)indices, (void)seeds, (void)n, (void)user_data;
  void *data = NULL;
  size_t numel = 0;
  mmh_error_t *e = mmh_batch_get_buffer(batch, 0, &data, &numel);
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* Asks for a field that was not declared and passes the code on. */
static mmh_code_t fill_bad_index(const int64_t *indices, const uint64_t *seeds, size_t n,
                                 mmh_batch_t *batch, void *user_data) {
  (void)indices, (void)seeds, (void)n, (void)user_data;
  void *data = NULL;
  size_t numel = 0;
  CHECK_ERR(mmh_batch_get_buffer(batch, 0, NULL, &numel), MMH_E_INVALID_ARGUMENT,
            "data_out is NULL");
  CHECK_ERR(mmh_batch_get_buffer(batch, 0, &data, NULL), MMH_E_INVALID_ARGUMENT,
            "numel_out is NULL");
  mmh_error_t *e = mmh_batch_get_buffer(batch, 7, &data, &numel);
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* A failing fill fails the run with a message naming the type and the stage; no leak (the
 * ASan build checks), user_data_free still once. */
static void test_fill_errors(void) {
  static const struct {
    const char *type;
    mmh_batch_fill_fn fill;
    mmh_code_t code;
    const char *text;
  } cases[] = {
      {"CFillIO", fill_fails, MMH_E_IO,
       "batch dataset type 'CFillIO', fill of 5 samples: returned code 10 (disk on fire)"},
      {"CFill99", fill_returns_99, MMH_E_INTERNAL, "returned 99, which is not an mmh_code_t"},
      {"CFillOne", fill_one_field, MMH_E_INVALID_ARGUMENT,
       "batch dataset type 'CFillOne', field 'targets', fill: returned MMH_OK without filling"},
      {"CFillIdx", fill_bad_index, MMH_E_INVALID_ARGUMENT,
       "mmh_batch_get_buffer: field index 7 is out of range (2 fields declared)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    record_t rec = {{0}, 0, 0};
    CHECK_OK(register_batch(cases[i].type, cases[i].fill, &rec));
    losses_t l = {{0}, 0};
    CHECK_ERR(train(cases[i].type, cases[i].type, 0, &l), cases[i].code, cases[i].text);
    CHECK_ERR(train(cases[i].type, cases[i].type, 2, &l), cases[i].code, cases[i].text);
    CHECK_OK(mmh_dataset_type_unregister(cases[i].type));
    CHECK(rec.frees == 1);
  }
  CHECK_ERR(mmh_batch_get_buffer(NULL, 0, NULL, NULL), MMH_E_INVALID_ARGUMENT, "batch is NULL");
  CHECK_ERR(mmh_batch_set_error(NULL, "x"), MMH_E_INVALID_ARGUMENT, "batch is NULL");
}

/* Bad declarations are refused at registration, naming the type and the field; user_data_free
 * runs at once. */
static void test_registration_errors(void) {
  record_t rec = {{0}, 0, 0};
  int64_t bad_shape[1] = {-2};
  mmh_batch_field_t f;
  mmh_batch_field_init(&f, sizeof f);
  CHECK(f.dtype == MMH_DTYPE_F32 && f.ndim == 0 && f.key == NULL);
  f.key = "x";
  const mmh_batch_field_t *fields[2] = {&f, &f};
  mmh_batch_dataset_desc_t d;
  mmh_batch_dataset_desc_init(&d, sizeof d);
  d.len = toy_len;
  d.fill = toy_fill;
  d.fields = fields;
  d.num_fields = 1;
  d.user_data = &rec;
  d.user_data_free = count_free;

  int expected_frees = 0;
#define EXPECT_REFUSED(call, code, text) \
  do {                                   \
    CHECK_ERR((call), (code), (text));   \
    ++expected_frees;                    \
    CHECK(rec.frees == expected_frees);  \
  } while (0)

  d.num_fields = 2;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CTwice", &d), MMH_E_INVALID_ARGUMENT,
                 "batch dataset type 'CTwice', field 'x', registration: the key is declared twice");
  d.num_fields = 1;
  f.dtype = 42;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CDtype", &d), MMH_E_INVALID_ARGUMENT,
                 "batch dataset type 'CDtype', field 'x', registration: unknown dtype 42");
  f.dtype = MMH_DTYPE_U8;
  f.ndim = 1;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CShape", &d), MMH_E_INVALID_ARGUMENT,
                 "field 'x', registration: shape is NULL but ndim is 1");
  f.shape = bad_shape;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CNeg", &d), MMH_E_INVALID_ARGUMENT,
                 "field 'x', registration: negative size -2 in dimension 0");
  f.ndim = 0;
  f.key = "";
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CEmpty", &d), MMH_E_INVALID_ARGUMENT,
                 "batch dataset type 'CEmpty', field 0, registration: the key is empty");
  f.key = "bad\xff";
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CUtf", &d), MMH_E_INVALID_ARGUMENT,
                 "field 0, registration: the key is not valid UTF-8");
  f.key = "x";
  fields[0] = NULL;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CNullField", &d), MMH_E_INVALID_ARGUMENT,
                 "field 0, registration: the field is NULL");
  fields[0] = &f;
  f.struct_size = 8;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("COldField", &d), MMH_E_ABI,
                 "mmh_batch_field_t.struct_size 8 is below");
  f.struct_size = sizeof f;
  d.num_fields = 0;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CNoFields", &d), MMH_E_INVALID_ARGUMENT,
                 "batch dataset type 'CNoFields', registration: num_fields is 0");
  d.num_fields = 1;
  d.fields = NULL;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CNullFields", &d), MMH_E_INVALID_ARGUMENT,
                 "registration: fields is NULL");
  d.fields = fields;
  d.fill = NULL;
  EXPECT_REFUSED(mmh_batch_dataset_type_register("CNoFill", &d), MMH_E_INVALID_ARGUMENT,
                 "batch dataset type 'CNoFill', registration: fill is NULL");
  d.fill = toy_fill;
  EXPECT_REFUSED(mmh_batch_dataset_type_register(NULL, &d), MMH_E_INVALID_ARGUMENT,
                 "name is NULL or empty");
  EXPECT_REFUSED(mmh_batch_dataset_type_register("ToyDataset", &d), MMH_E_INVALID_ARGUMENT,
                 "ToyDataset");
  /* A desc too old to read: user_data_free cannot be found, so it is not called. */
  d.struct_size = 8;
  CHECK_ERR(mmh_batch_dataset_type_register("COld", &d), MMH_E_ABI,
            "mmh_batch_dataset_desc_t.struct_size 8 is below");
  CHECK_ERR(mmh_batch_dataset_type_register("CNull", NULL), MMH_E_INVALID_ARGUMENT, "desc is NULL");
  CHECK(rec.frees == expected_frees);
#undef EXPECT_REFUSED
}

/* DLPack in: a minimal mirror of DLManagedTensor (<dlpack/dlpack.h>, v0.6), as in
 * test_capi.c, so that this program needs no DLPack header. */
typedef struct {
  void *data;
  int32_t device_type;
  int32_t device_id;
  int32_t ndim;
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
  int64_t *shape;
  int64_t *strides;
  uint64_t byte_offset;
} dl_tensor_t;
typedef struct dl_managed {
  dl_tensor_t t;
  void *ctx;
  void (*deleter)(struct dl_managed *);
} dl_managed_t;
enum { DL_CPU = 1, DL_CUDA = 2, DL_INT = 0, DL_FLOAT = 2 };

static int g_dl_made = 0;
static int g_dl_deleted = 0;

typedef struct {
  dl_managed_t m;
  int64_t shape[2];
  float data[]; /* rows * cols */
} dl_block_t;

static void dl_delete(dl_managed_t *m) {
  ++g_dl_deleted;
  free(m->ctx);
}

/* A float32 [rows, cols] CPU tensor (cols 0: a [rows] tensor) that frees itself. */
static struct DLManagedTensor *dl_f32(int64_t rows, int64_t cols, float **data) {
  const int64_t numel = rows * (cols > 0 ? cols : 1);
  dl_block_t *b = (dl_block_t *)calloc(1, sizeof(dl_block_t) + (size_t)numel * sizeof(float));
  b->shape[0] = rows;
  b->shape[1] = cols;
  b->m.t.data = b->data;
  b->m.t.device_type = DL_CPU;
  b->m.t.ndim = cols > 0 ? 2 : 1;
  b->m.t.code = DL_FLOAT;
  b->m.t.bits = 32;
  b->m.t.lanes = 1;
  b->m.t.shape = b->shape;
  b->m.ctx = b;
  b->m.deleter = dl_delete;
  *data = b->data;
  ++g_dl_made;
  return (struct DLManagedTensor *)&b->m;
}

/* The toy dataset through DLPack: inputs handed over, targets written into the buffer. */
static mmh_code_t dl_fill(const int64_t *indices, const uint64_t *seeds, size_t n,
                          mmh_batch_t *batch, void *user_data) {
  (void)seeds;
  float *inputs = NULL;
  struct DLManagedTensor *t = dl_f32((int64_t)n, 2, &inputs);
  for (size_t i = 0; i < n; ++i) {
    record_index((record_t *)user_data, indices[i]);
    const double x = (double)indices[i] / (double)N_SAMPLES;
    inputs[2 * i] = (float)x;
    inputs[2 * i + 1] = (float)(1.0 - x);
  }
  mmh_error_t *e = mmh_batch_set_dlpack(batch, 0, t);
  if (e == NULL) {
    float *targets = NULL;
    size_t numel = 0;
    e = mmh_batch_get_buffer(batch, 1, (void **)&targets, &numel);
    for (size_t i = 0; e == NULL && i < numel; ++i) targets[i] = 1.0f;
  }
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* What the bad fills hand over instead of a good inputs tensor. */
static int g_dl_bad = 0;

static mmh_code_t dl_bad_fill(const int64_t *indices, const uint64_t *seeds, size_t n,
                              mmh_batch_t *batch, void *user_data) {
  (void)indices, (void)seeds, (void)user_data;
  float *data = NULL;
  struct DLManagedTensor *t = NULL;
  switch (g_dl_bad) {
    case 0: /* one sample short */ t = dl_f32((int64_t)n - 1, 2, &data); break;
    case 1: /* int64 bits */
      t = dl_f32((int64_t)n, 2, &data);
      ((dl_managed_t *)t)->t.code = DL_INT;
      ((dl_managed_t *)t)->t.bits = 64;
      break;
    case 2: /* per-sample size 3 */ t = dl_f32((int64_t)n, 3, &data); break;
    case 3: /* a [n] tensor */ t = dl_f32((int64_t)n, 0, &data); break;
    case 4: /* on a GPU */
      t = dl_f32((int64_t)n, 2, &data);
      ((dl_managed_t *)t)->t.device_type = DL_CUDA;
      break;
    default: /* a good one, then get_buffer on the same field */
      t = dl_f32((int64_t)n, 2, &data);
      CHECK_OK(mmh_batch_set_dlpack(batch, 0, t));
      {
        void *p = NULL;
        size_t numel = 0;
        mmh_error_t *e = mmh_batch_get_buffer(batch, 0, &p, &numel);
        const mmh_code_t code = mmh_error_code(e);
        mmh_error_free(e);
        return code;
      }
  }
  mmh_error_t *e = mmh_batch_set_dlpack(batch, 0, t);
  const mmh_code_t code = mmh_error_code(e);
  mmh_error_free(e);
  return code;
}

/* DLPack in: bit-identical training, every deleter called once; mismatches are errors naming
 * the type, the field and what differs, and the refused tensor is deleted too. */
static void test_dlpack_in(void) {
  record_t buffered = {{0}, 0, 0};
  record_t dl = {{0}, 0, 0};
  CHECK_OK(register_batch("CToyBuffers", toy_fill, &buffered));
  CHECK_OK(register_batch("CToyDLPack", dl_fill, &dl));
  losses_t a = {{0}, 0};
  losses_t b = {{0}, 0};
  CHECK_OK(train("dl_buffers", "CToyBuffers", 0, &a));
  CHECK_OK(train("dl_dlpack", "CToyDLPack", 0, &b));
  CHECK(a.count == 9 && same_losses(a.losses, b.losses));
  CHECK(memcmp(buffered.indices, dl.indices, sizeof dl.indices) == 0);
  losses_t w = {{0}, 0};
  CHECK_OK(train("dl_dlpack_workers", "CToyDLPack", 2, &w));
  CHECK(same_losses(w.losses, b.losses));
  CHECK(g_dl_made > 0 && g_dl_deleted == g_dl_made);
  CHECK_OK(mmh_dataset_type_unregister("CToyBuffers"));
  CHECK_OK(mmh_dataset_type_unregister("CToyDLPack"));

  static const char *texts[] = {
      "batch dataset type 'CDLBad', fill of 5 samples: returned code 1 (mmh_batch_set_dlpack: "
      "field 'inputs': the DLPack tensor has batch size 4, expected 5 (the n of this fill))",
      "field 'inputs': the DLPack tensor has dtype (code 0, bits 64, lanes 1), the field is "
      "declared Float",
      "field 'inputs': the DLPack tensor has size 3 in dimension 1, the field is declared 2",
      "field 'inputs': the DLPack tensor has 1 dimensions, the field has 2",
      "field 'inputs': the DLPack tensor is on device type 2; only CPU memory",
      "mmh_batch_get_buffer: field 'inputs' was set with mmh_batch_set_dlpack",
  };
  record_t rec = {{0}, 0, 0};
  CHECK_OK(register_batch("CDLBad", dl_bad_fill, &rec));
  for (g_dl_bad = 0; g_dl_bad < 6; ++g_dl_bad) {
    losses_t l = {{0}, 0};
    CHECK_ERR(train("dl_bad", "CDLBad", 0, &l), MMH_E_INVALID_ARGUMENT, texts[g_dl_bad]);
    CHECK(g_dl_deleted == g_dl_made);
  }
  CHECK_OK(mmh_dataset_type_unregister("CDLBad"));
  CHECK(rec.frees == 1);
  /* NULL arguments: the tensor is still deleted. */
  float *data = NULL;
  CHECK_ERR(mmh_batch_set_dlpack(NULL, 0, dl_f32(1, 2, &data)), MMH_E_INVALID_ARGUMENT,
            "batch is NULL");
  CHECK_ERR(mmh_batch_set_dlpack(NULL, 0, NULL), MMH_E_INVALID_ARGUMENT, "tensor is NULL");
  CHECK(g_dl_deleted == g_dl_made);
}

int main(int argc, char **argv) {
  if (argc > 1) g_work = argv[1];
  (void)make_runner; /* toy_runner.h's helper; this program builds its own configs */
  test_batch_equals_per_sample();
  test_fill_errors();
  test_registration_errors();
  test_dlpack_in();
  if (g_failures != 0) {
    fprintf(stderr, "%d failure(s)\n", g_failures);
    return 1;
  }
  printf("all batch dataset tests passed\n");
  return 0;
}
