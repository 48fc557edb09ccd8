/* The C tests' shared toy runner (docs/design.md §A8: 12 samples, batch 3, 4 iterations per
 * epoch) and the CHECK, CHECK_OK and CHECK_ERR macros. Include it after defining
 * `static int g_failures`, `static const char *g_work` (the folder for work_dirs) and
 * `static const char *g_train_dataset` (the train set's dataset type). */
#ifndef MMHOOK_TESTS_CAPI_TOY_RUNNER_H
#define MMHOOK_TESTS_CAPI_TOY_RUNNER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmhook.h>

/* A condition that must hold; a failure is printed and counted. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                            \
    }                                                                          \
  } while (0)

/* An error with this code whose message contains `text`; the error is freed. */
#define CHECK_ERR(err, code, text)                                                              \
  do {                                                                                          \
    mmh_error_t *e_ = (err);                                                                    \
    if (mmh_error_code(e_) != (code) || strstr(mmh_error_message(e_), (text)) == NULL) {        \
      fprintf(stderr, "%s:%d: expected error %d containing \"%s\", got %d: \"%s\"\n", __FILE__, \
              __LINE__, (int)(code), (text), (int)mmh_error_code(e_), mmh_error_message(e_));   \
      ++g_failures;                                                                             \
    }                                                                                           \
    mmh_error_free(e_);                                                                         \
  } while (0)

/* A NULL error, or a failure printed with its code and message (the error is freed). */
#define CHECK_OK(err)                                                         \
  do {                                                                        \
    mmh_error_t *e_ = (err);                                                  \
    if (e_ != NULL) {                                                         \
      fprintf(stderr, "%s:%d: unexpected error %d: %s\n", __FILE__, __LINE__, \
              (int)mmh_error_code(e_), mmh_error_message(e_));                \
      ++g_failures;                                                           \
      mmh_error_free(e_);                                                     \
    }                                                                         \
  } while (0)

/* The toy runner of docs/design.md §A8: 12 samples, batch 3 (4 iterations per epoch). */
#define TOY_LOADER(type)                                              \
  "{\"batch_size\": 3, \"num_workers\": 0,"                           \
  " \"sampler\": {\"type\": \"DefaultSampler\", \"shuffle\": false}," \
  " \"dataset\": {\"type\": \"" type "\"}}"

static char *toy_config(const char *sub, int max_epochs, const char *extra) {
  static const char *loader = TOY_LOADER("ToyDataset");
  char train_loader[512];
  snprintf(train_loader, sizeof train_loader, TOY_LOADER("%s"), g_train_dataset);
  char *buf = (char *)malloc(8192);
  snprintf(buf, 8192,
           "{\"work_dir\": \"%s/%s\", \"model\": {\"type\": \"ToyModel\"},"
           " \"train_dataloader\": %s, \"val_dataloader\": %s, \"test_dataloader\": %s,"
           " \"val_evaluator\": {\"type\": \"ToyMetric\"}, \"test_evaluator\": {\"type\": "
           "\"ToyMetric\"},"
           " \"train_cfg\": {\"by_epoch\": true, \"max_epochs\": %d, \"val_interval\": 1},"
           " \"val_cfg\": {}, \"test_cfg\": {},"
           " \"optim_wrapper\": {\"optimizer\": {\"type\": \"SGD\", \"lr\": 0.1}},"
           " \"randomness\": {\"seed\": 0}, \"log_level\": \"WARNING\"%s}",
           g_work, sub, train_loader, loader, loader, max_epochs, extra ? extra : "");
  return buf;
}

static mmh_runner_t *make_runner(const char *sub, int max_epochs, const char *extra) {
  char *cfg = toy_config(sub, max_epochs, extra);
  mmh_runner_t *r = NULL;
  CHECK_OK(mmh_runner_create(cfg, &r));
  free(cfg);
  return r;
}

#endif
