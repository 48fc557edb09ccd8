// C side of the batch dataset trampolines (batch_dataset.go): the library calls these with
// `void *user_data`, which holds a runtime/cgo.Handle value (an integer, never a Go pointer);
// they forward it to the //export-ed Go functions.
#include <stdint.h>

#include <mmhook.h>

#include "_cgo_export.h"

static int64_t mmhgo_batch_len(void *user_data) { return mmhgoBatchLen((uintptr_t)user_data); }

static mmh_code_t mmhgo_batch_fill(const int64_t *indices, const uint64_t *seeds, size_t n,
                                   mmh_batch_t *batch, void *user_data) {
  return mmhgoBatchFill((int64_t *)indices, (uint64_t *)seeds, n, batch, (uintptr_t)user_data);
}

static void mmhgo_batch_free(void *user_data) { mmhgoBatchFree((uintptr_t)user_data); }

mmh_error_t *mmhgo_batch_dataset_register(const char *name, const mmh_batch_field_t *fields,
                                          size_t num_fields, uintptr_t handle) {
  // The pointer array the descriptor wants, on the stack (the library copies the fields).
  const mmh_batch_field_t *ptrs[num_fields > 0 ? num_fields : 1];
  for (size_t i = 0; i < num_fields; ++i) ptrs[i] = &fields[i];
  mmh_batch_dataset_desc_t d;
  mmh_batch_dataset_desc_init(&d, sizeof d);
  d.len = mmhgo_batch_len;
  d.fill = mmhgo_batch_fill;
  d.fields = num_fields > 0 ? ptrs : NULL;
  d.num_fields = num_fields;
  d.user_data = (void *)handle;
  d.user_data_free = mmhgo_batch_free;
  return mmh_batch_dataset_type_register(name, &d);
}
