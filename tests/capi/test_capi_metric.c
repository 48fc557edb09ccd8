/* Metric types written in C (mmh_metric_type_register): usable by name in val_evaluator and
 * test_evaluator like a built-in metric, called reset, process x N, compute, reset per
 * evaluation; a failing callback fails the run naming the metric type, the callback and the
 * host's message; user_data_free runs exactly once. Built with MMH_WARN_DEPRECATED (it calls
 * no deprecated function) and again under ASan/UBSan. Usage: test_capi_metric WORK_DIR, or
 * test_capi_metric WORK_DIR --dist: two processes (world size 2) in which the evaluation is
 * refused naming the metric type. */
#ifndef MMH_WARN_DEPRECATED
#define MMH_WARN_DEPRECATED
#endif
/* fork, execv, setenv, waitpid: the two-process check. */
#define _POSIX_C_SOURCE 200809L /* NOLINT(bugprone-reserved-identifier): POSIX asks for it */
#include <mmhook.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;
static const char *g_work = "/tmp/mmhook_capi_metric";
static const char *g_train_dataset = "ToyDataset";

#include "toy_runner.h"

/* The toy runner with `evaluator` (JSON) as val_evaluator and test_evaluator. */
static mmh_runner_t *make_eval_runner(const char *sub, const char *evaluator) {
  static const char *loader = TOY_LOADER("ToyDataset");
  char *buf = (char *)malloc(8192);
  snprintf(buf, 8192,
           "{\"work_dir\": \"%s/%s\", \"model\": {\"type\": \"ToyModel\"},"
           " \"val_dataloader\": %s, \"test_dataloader\": %s,"
           " \"val_evaluator\": %s, \"test_evaluator\": %s, \"val_cfg\": {}, \"test_cfg\": {},"
           " \"randomness\": {\"seed\": 0}, \"log_level\": \"WARNING\"}",
           g_work, sub, loader, loader, evaluator, evaluator);
  mmh_runner_t *r = NULL;
  CHECK_OK(mmh_runner_create(buf, &r));
  free(buf);
  return r;
}

/* A mean absolute error over outputs "outputs" and batch "targets", logging its calls. */
typedef struct {
  double sum;
  int64_t count;
  char log[256];       /* one letter per call: R(eset), P(rocess), C(ompute) */
  int fail_process_at; /* the process call (from 1) that fails; 0: none */
  int fail_compute;
  int nan;
  int process_calls;
  mmh_metric_batch_t *kept_batch; /* a handle kept past its call (misuse, refused) */
  int *freed;
} mae_state_t;

static void log_call(mae_state_t *s, char c) {
  size_t n = strlen(s->log);
  if (n + 1 < sizeof s->log) {
    s->log[n] = c;
    s->log[n + 1] = '\0';
  }
}

static double *copy_tensor(const mmh_tensor_t *t, size_t *n) {
  double *v;
  if (mmh_tensor_get_numel(t, n) != NULL) return NULL;
  v = (double *)malloc((*n + 1) * sizeof(double));
  if (mmh_tensor_copy_to_host_f64(t, v, *n) != NULL) {
    free(v);
    return NULL;
  }
  return v;
}

static mmh_code_t mae_process(mmh_metric_batch_t *batch, void *ud) {
  mae_state_t *s = (mae_state_t *)ud;
  const mmh_tensor_t *out = NULL;
  const mmh_tensor_t *tgt = NULL;
  double *o;
  double *t;
  size_t n = 0;
  size_t m = 0;
  size_t i;
  log_call(s, 'P');
  s->kept_batch = batch;
  if (++s->process_calls == s->fail_process_at) {
    CHECK_OK(mmh_metric_batch_set_error(batch, "bad batch on purpose"));
    return MMH_E_INVALID_ARGUMENT;
  }
  CHECK_OK(mmh_metric_batch_get_output_tensor(batch, "outputs", &out));
  CHECK_OK(mmh_metric_batch_get_data_tensor(batch, "targets", &tgt));
  /* Absent keys, and a batch key asked of the outputs, are NOT_FOUND. */
  {
    const mmh_tensor_t *none = NULL;
    CHECK_ERR(mmh_metric_batch_get_output_tensor(batch, "targets", &none), MMH_E_NOT_FOUND,
              "targets");
    CHECK_ERR(mmh_metric_batch_get_data_tensor(batch, "nope", &none), MMH_E_NOT_FOUND, "nope");
    CHECK_ERR(mmh_metric_batch_get_data_tensor(batch, NULL, &none), MMH_E_INVALID_ARGUMENT,
              "key is NULL");
  }
  if (out == NULL || tgt == NULL) return MMH_E_INTERNAL;
  o = copy_tensor(out, &n);
  t = copy_tensor(tgt, &m);
  if (o == NULL || t == NULL || n != m) {
    free(o);
    free(t);
    return MMH_E_INTERNAL;
  }
  for (i = 0; i < n; ++i) s->sum += fabs(o[i] - t[i]);
  s->count += (int64_t)n;
  free(o);
  free(t);
  return MMH_OK;
}

static mmh_code_t mae_compute(mmh_metric_results_t *results, void *ud) {
  mae_state_t *s = (mae_state_t *)ud;
  log_call(s, 'C');
  if (s->fail_compute) {
    CHECK_OK(mmh_metric_results_set_error(results, "cannot compute on purpose"));
    return 77; /* not an mmh_code_t: MMH_E_INTERNAL, the number kept */
  }
  CHECK_ERR(mmh_metric_results_set_value(results, "", 1.0), MMH_E_INVALID_ARGUMENT, "empty");
  CHECK_ERR(mmh_metric_results_set_value(results, NULL, 1.0), MMH_E_INVALID_ARGUMENT,
            "name is NULL");
  CHECK_OK(mmh_metric_results_set_value(results, "mae", s->nan ? NAN : s->sum / (double)s->count));
  CHECK_OK(mmh_metric_results_set_value(results, "n", (double)s->count));
  return MMH_OK;
}

static void mae_reset(void *ud) {
  mae_state_t *s = (mae_state_t *)ud;
  log_call(s, 'R');
  s->sum = 0;
  s->count = 0;
}

static void count_free(void *ud) {
  mae_state_t *s = (mae_state_t *)ud;
  ++*s->freed;
}

static mmh_metric_desc_t mae_desc(mae_state_t *s) {
  mmh_metric_desc_t d;
  mmh_metric_desc_init(&d, sizeof d);
  d.process = mae_process;
  d.compute = mae_compute;
  d.reset = mae_reset;
  d.user_data = s;
  d.user_data_free = count_free;
  return d;
}

/* The value of "key": in the runner's metrics JSON; NAN when absent. */
static double metric_value(mmh_runner_t *r, const char *key) {
  char buf[1024];
  char pattern[128];
  size_t len = 0;
  const char *at;
  CHECK_OK(mmh_runner_get_metrics_json(r, buf, sizeof buf, &len));
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  at = strstr(buf, pattern);
  if (at == NULL) {
    fprintf(stderr, "no %s in %s\n", key, buf);
    return NAN;
  }
  return strtod(at + strlen(pattern), NULL);
}

static void test_registration_errors(void) {
  int freed = 0;
  mae_state_t s;
  mmh_metric_desc_t d;
  memset(&s, 0, sizeof s);
  s.freed = &freed;

  d = mae_desc(&s);
  CHECK_ERR(mmh_metric_type_register(NULL, &d), MMH_E_INVALID_ARGUMENT, "name is NULL");
  CHECK(freed == 1);
  CHECK_ERR(mmh_metric_type_register("", &d), MMH_E_INVALID_ARGUMENT, "name is empty");
  CHECK(freed == 2);
  d.process = NULL;
  CHECK_ERR(mmh_metric_type_register("CMetricBad", &d), MMH_E_INVALID_ARGUMENT, "process");
  CHECK(freed == 3);
  d = mae_desc(&s);
  d.compute = NULL;
  CHECK_ERR(mmh_metric_type_register("CMetricBad", &d), MMH_E_INVALID_ARGUMENT, "compute");
  CHECK(freed == 4);
  d = mae_desc(&s);
  CHECK_ERR(mmh_metric_type_register("\xff\xfe", &d), MMH_E_INVALID_ARGUMENT, "UTF-8");
  CHECK(freed == 5);
  /* A built-in's name is taken. */
  d = mae_desc(&s);
  CHECK_ERR(mmh_metric_type_register("MeanAbsoluteError", &d), MMH_E_INVALID_ARGUMENT,
            "already registered");
  CHECK(freed == 6);
  CHECK_ERR(mmh_metric_type_register("CMetricBad", NULL), MMH_E_INVALID_ARGUMENT, "desc is NULL");
  /* struct_size below the first version: MMH_E_ABI, user_data_free not called. */
  d = mae_desc(&s);
  d.struct_size = sizeof(size_t);
  CHECK_ERR(mmh_metric_type_register("CMetricBad", &d), MMH_E_ABI, "mmh_metric_desc_t");
  CHECK(freed == 6);
  CHECK_ERR(mmh_metric_type_unregister(NULL), MMH_E_INVALID_ARGUMENT, "name is NULL");
  CHECK_ERR(mmh_metric_type_unregister("CMetricBad"), MMH_E_NOT_FOUND, "CMetricBad");
  /* Only C-registered types can be unregistered. */
  CHECK_ERR(mmh_metric_type_unregister("MeanAbsoluteError"), MMH_E_NOT_FOUND, "MeanAbsoluteError");
  /* Handles outside their call (NULL ones) are refused, never a crash. */
  CHECK_ERR(mmh_metric_batch_set_error(NULL, "x"), MMH_E_INVALID_ARGUMENT, "batch is NULL");
  CHECK_ERR(mmh_metric_results_set_value(NULL, "x", 1.0), MMH_E_INVALID_ARGUMENT,
            "results is NULL");
  CHECK_ERR(mmh_metric_results_set_error(NULL, "x"), MMH_E_INVALID_ARGUMENT, "results is NULL");
  mmh_metric_desc_init(NULL, sizeof d); /* does nothing */
}

/* Two evaluations: each is reset, process x4, compute, reset; the C metric's value equals the
 * built-in MeanAbsoluteError's over the same batches; a second registration of the name fails;
 * user_data_free runs once, after unregistering and destroying the runner. */
static void test_metric_in_evaluator(void) {
  int freed = 0;
  int freed2 = 0;
  mae_state_t s;
  mae_state_t s2;
  mmh_metric_desc_t d;
  mmh_runner_t *r;
  memset(&s, 0, sizeof s);
  memset(&s2, 0, sizeof s2);
  s.freed = &freed;
  s2.freed = &freed2;
  d = mae_desc(&s);
  CHECK_OK(mmh_metric_type_register("CMetricMAE", &d));
  d = mae_desc(&s2);
  CHECK_ERR(mmh_metric_type_register("CMetricMAE", &d), MMH_E_INVALID_ARGUMENT,
            "already registered");
  CHECK(freed2 == 1);

  r = make_eval_runner("metric_ok",
                       "[{\"type\": \"MeanAbsoluteError\"},"
                       " {\"type\": \"CMetricMAE\", \"prefix\": \"c\"}]");
  if (r != NULL) {
    double builtin;
    CHECK_OK(mmh_runner_val(r));
    CHECK(strcmp(s.log, "RPPPPCR") == 0);
    builtin = metric_value(r, "mae");
    CHECK(fabs(metric_value(r, "c/mae") - builtin) < 1e-6);
    CHECK(builtin > 0.0);
    CHECK(metric_value(r, "c/n") == 12.0);
    /* The second evaluation starts from a reset: the count does not double. */
    CHECK_OK(mmh_runner_test(r));
    CHECK(strcmp(s.log, "RPPPPCRRPPPPCR") == 0);
    CHECK(metric_value(r, "c/n") == 12.0);
    CHECK(fabs(metric_value(r, "c/mae") - builtin) < 1e-6);
    /* A batch handle kept past its call is refused. */
    CHECK_ERR(mmh_metric_batch_set_error(s.kept_batch, "late"), MMH_E_FAILED_PRECONDITION,
              "outside");
    {
      const mmh_tensor_t *t = NULL;
      CHECK_ERR(mmh_metric_batch_get_output_tensor(s.kept_batch, "outputs", &t),
                MMH_E_FAILED_PRECONDITION, "outside");
    }
  }
  CHECK_OK(mmh_metric_type_unregister("CMetricMAE"));
  CHECK(freed == 0); /* the runner's metric still uses it */
  mmh_runner_destroy(r);
  CHECK(freed == 1);
  CHECK_ERR(mmh_metric_type_unregister("CMetricMAE"), MMH_E_NOT_FOUND, "CMetricMAE");
  /* Unregistered, the name is unknown to configs. */
  {
    char *cfg = (char *)malloc(4096);
    mmh_runner_t *bad = NULL;
    snprintf(cfg, 4096,
             "{\"work_dir\": \"%s/metric_gone\", \"model\": {\"type\": \"ToyModel\"},"
             " \"val_dataloader\": %s, \"val_evaluator\": {\"type\": \"CMetricMAE\"},"
             " \"val_cfg\": {}, \"log_level\": \"WARNING\"}",
             g_work, TOY_LOADER("ToyDataset"));
    /* The evaluator is built when the loop is (at the first val). */
    CHECK_OK(mmh_runner_create(cfg, &bad));
    if (bad != NULL)
      CHECK_ERR(mmh_runner_val(bad), MMH_E_CONFIG, "unknown metric type 'CMetricMAE'");
    mmh_runner_destroy(bad);
    free(cfg);
  }
}

/* A failing process or compute fails the run naming the type, the callback and the message; so
 * does a NaN from compute, naming the value. */
static void test_metric_errors(void) {
  int freed = 0;
  mae_state_t s;
  mmh_metric_desc_t d;
  mmh_runner_t *r;
  mmh_error_t *err;
  memset(&s, 0, sizeof s);
  s.freed = &freed;
  s.fail_process_at = 3;
  d = mae_desc(&s);
  CHECK_OK(mmh_metric_type_register("CMetricFails", &d));
  r = make_eval_runner("metric_fail", "{\"type\": \"CMetricFails\"}");
  if (r != NULL) {
    err = mmh_runner_val(r);
    CHECK(mmh_error_code(err) == MMH_E_INVALID_ARGUMENT);
    CHECK(strstr(mmh_error_message(err), "CMetricFails") != NULL);
    CHECK(strstr(mmh_error_message(err), "process") != NULL);
    CHECK(strstr(mmh_error_message(err), "bad batch on purpose") != NULL);
    mmh_error_free(err);
    CHECK(strcmp(s.log, "RPPP") == 0);

    /* The next evaluation starts from a reset; compute fails with a number outside
     * mmh_code_t. */
    s.fail_process_at = 0;
    s.fail_compute = 1;
    s.log[0] = '\0';
    err = mmh_runner_val(r);
    CHECK(mmh_error_code(err) == MMH_E_INTERNAL);
    CHECK(strstr(mmh_error_message(err), "CMetricFails") != NULL);
    CHECK(strstr(mmh_error_message(err), "compute returned 77") != NULL);
    CHECK(strstr(mmh_error_message(err), "cannot compute on purpose") != NULL);
    mmh_error_free(err);
    CHECK(strncmp(s.log, "RPPPPC", 6) == 0);

    /* A NaN value is refused, naming the type and the value. */
    s.fail_compute = 0;
    s.nan = 1;
    CHECK_ERR(mmh_runner_val(r), MMH_E_INVALID_ARGUMENT, "set 'mae' to NaN");
    s.nan = 0;
    CHECK_OK(mmh_runner_val(r));
    CHECK(metric_value(r, "mae") == metric_value(r, "mae"));
  }
  mmh_runner_destroy(r);
  CHECK(freed == 0);
  CHECK_OK(mmh_metric_type_unregister("CMetricFails"));
  CHECK(freed == 1);
}

/* A metric without reset (NULL) is fine. */
static mmh_code_t one_process(mmh_metric_batch_t *batch, void *ud) {
  (void)batch;
  ++*(int *)ud;
  return MMH_OK;
}
static mmh_code_t one_compute(mmh_metric_results_t *results, void *ud) {
  return mmh_error_code(mmh_metric_results_set_value(results, "batches", (double)*(int *)ud));
}

static void test_metric_without_reset(void) {
  int calls = 0;
  mmh_metric_desc_t d;
  mmh_runner_t *r;
  mmh_metric_desc_init(&d, sizeof d);
  d.process = one_process;
  d.compute = one_compute;
  d.user_data = &calls;
  CHECK_OK(mmh_metric_type_register("CMetricNoReset", &d));
  r = make_eval_runner("metric_noreset", "{\"type\": \"CMetricNoReset\"}");
  if (r != NULL) {
    CHECK_OK(mmh_runner_val(r));
    CHECK(metric_value(r, "batches") == 4.0);
  }
  mmh_runner_destroy(r);
  CHECK_OK(mmh_metric_type_unregister("CMetricNoReset"));
}

/* One rank of the two-process check (RANK, WORLD_SIZE, MASTER_PORT set by the parent): the
 * evaluation fails with MMH_E_DISTRIBUTED naming the metric type; the exit status says. */
static int dist_rank(void) {
  int freed = 0;
  mae_state_t s;
  mmh_metric_desc_t d;
  mmh_runner_t *r = NULL;
  char *cfg = (char *)malloc(4096);
  char sub[64];
  alarm(120); /* a hang fails instead of blocking ctest */
  memset(&s, 0, sizeof s);
  s.freed = &freed;
  d = mae_desc(&s);
  CHECK_OK(mmh_metric_type_register("CMetricDist", &d));
  snprintf(sub, sizeof sub, "metric_dist_%s", getenv("RANK"));
  snprintf(cfg, 4096,
           "{\"work_dir\": \"%s/%s\", \"model\": {\"type\": \"ToyModel\"},"
           " \"val_dataloader\": %s, \"val_evaluator\": {\"type\": \"CMetricDist\"},"
           " \"val_cfg\": {}, \"launcher\": \"pytorch\", \"log_level\": \"WARNING\"}",
           g_work, sub, TOY_LOADER("ToyDataset"));
  CHECK_OK(mmh_runner_create(cfg, &r));
  free(cfg);
  if (r != NULL) CHECK_ERR(mmh_runner_val(r), MMH_E_DISTRIBUTED, "metric type 'CMetricDist'");
  mmh_runner_destroy(r);
  CHECK_OK(mmh_metric_type_unregister("CMetricDist"));
  CHECK(freed == 1);
  return g_failures ? 1 : 0;
}

/* Starts this program twice as ranks 0 and 1 of a world of 2 and checks both refuse. */
static void test_refused_with_two_processes(const char *self) {
  pid_t pids[2];
  char port[16];
  int rank;
  snprintf(port, sizeof port, "%d", 20000 + (int)(getpid() % 20000));
  for (rank = 0; rank < 2; ++rank) {
    pids[rank] = fork();
    if (pids[rank] == 0) {
      char rank_text[16];
      snprintf(rank_text, sizeof rank_text, "%d", rank);
      setenv("RANK", rank_text, 1);
      setenv("LOCAL_RANK", rank_text, 1);
      setenv("WORLD_SIZE", "2", 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port, 1);
      execl(self, self, g_work, "--dist-rank", (char *)NULL);
      _exit(127);
    }
  }
  for (rank = 0; rank < 2; ++rank) {
    int status = 0;
    CHECK(pids[rank] > 0 && waitpid(pids[rank], &status, 0) == pids[rank]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
}

int main(int argc, char **argv) {
  if (argc > 1) g_work = argv[1];
  if (argc > 2 && strcmp(argv[2], "--dist-rank") == 0) return dist_rank();
  if (argc > 2 && strcmp(argv[2], "--dist") == 0) {
    test_refused_with_two_processes(argv[0]);
    if (g_failures) return 1;
    printf("the two-process evaluation was refused on both ranks\n");
    return 0;
  }
  (void)g_train_dataset;
  (void)make_runner; /* toy_runner.h's, unused here */
  test_registration_errors();
  test_metric_in_evaluator();
  test_metric_errors();
  test_metric_without_reset();
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("all C metric checks passed\n");
  return 0;
}
