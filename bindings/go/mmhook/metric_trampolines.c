// C side of the metric trampolines (metric.go): the library calls these with `void *user_data`
// holding a runtime/cgo.Handle value (an integer, never a Go pointer); they forward it to the
// //export-ed Go functions.
#include <stdint.h>

#include <mmhook.h>

#include "_cgo_export.h"

static mmh_code_t mmhgo_metric_process(mmh_metric_batch_t *batch, void *user_data) {
  return mmhgoMetricProcess(batch, (uintptr_t)user_data);
}

static mmh_code_t mmhgo_metric_compute(mmh_metric_results_t *results, void *user_data) {
  return mmhgoMetricCompute(results, (uintptr_t)user_data);
}

static void mmhgo_metric_reset(void *user_data) { mmhgoMetricReset((uintptr_t)user_data); }

static void mmhgo_metric_free(void *user_data) { mmhgoMetricFree((uintptr_t)user_data); }

mmh_error_t *mmhgo_metric_type_register(const char *name, uintptr_t handle) {
  mmh_metric_desc_t d;
  mmh_metric_desc_init(&d, sizeof d);
  d.process = mmhgo_metric_process;
  d.compute = mmhgo_metric_compute;
  d.reset = mmhgo_metric_reset;
  d.user_data = (void *)handle;
  d.user_data_free = mmhgo_metric_free;
  return mmh_metric_type_register(name, &d);
}
