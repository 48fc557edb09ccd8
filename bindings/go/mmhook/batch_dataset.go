package mmhook

// Batch-level datasets written in Go (mmh_batch_dataset_type_register): one call fills a whole
// batch, through typed slices over the library's buffers (unsafe.Slice, no copy).

/*
#include <stdint.h>
#include <stdlib.h>
#include <mmhook.h>

mmh_error_t *mmhgo_batch_dataset_register(const char *name, const mmh_batch_field_t *fields,
                                          size_t num_fields, uintptr_t handle);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DType is the element type of a batch dataset's field.
type DType int32

// The element types of fields.
const (
	DTypeU8  DType = C.MMH_DTYPE_U8
	DTypeI32 DType = C.MMH_DTYPE_I32
	DTypeI64 DType = C.MMH_DTYPE_I64
	DTypeF32 DType = C.MMH_DTYPE_F32
	DTypeF64 DType = C.MMH_DTYPE_F64
)

func (d DType) String() string {
	switch d {
	case DTypeU8:
		return "u8"
	case DTypeI32:
		return "i32"
	case DTypeI64:
		return "i64"
	case DTypeF32:
		return "f32"
	case DTypeF64:
		return "f64"
	}
	return fmt.Sprintf("DType(%d)", int32(d))
}

// Field declares one batch key of a batch dataset: its element type and the shape of one
// sample (empty: one scalar per sample, a batch of shape [n]).
type Field struct {
	Key   string
	DType DType
	Shape []int64
}

// BatchDataset is a dataset that fills whole batches.
//
// FillBatch fills the samples indices (the sampler's choice: shuffled, sharded by rank,
// resumed) into batch, sample i at row i of every declared field; it must take every field
// (Float32s, Int64s, ...). indices and the slices are valid only during the call. A returned
// error fails the run with its text, naming the dataset type; so does a panic, after which
// every later fill of that registration fails too (its state may be broken). Loader workers
// may fill from several threads: the binding runs the fills of one registration one at a time.
// FillBatch must not call runtime.Goexit (t.FailNow, t.Fatal).
type BatchDataset interface {
	Len() int64
	FillBatch(indices []int64, batch *BatchWriter) error
}

// BatchWriter is the batch being filled; valid only during FillBatch.
type BatchWriter struct {
	ptr    *C.mmh_batch_t
	fields []Field
	seeds  []uint64
	taken  []bool
}

// Len is the number of samples in the batch.
func (b *BatchWriter) Len() int { return len(b.seeds) }

// Seeds are the per-sample seeds (random transforms draw only from these); valid during the
// call.
func (b *BatchWriter) Seeds() []uint64 { return b.seeds }

// buffer takes field key's buffer once per batch, checking its dtype.
func (b *BatchWriter) buffer(key string, want DType) (unsafe.Pointer, int, error) {
	index := -1
	for i, f := range b.fields {
		if f.Key == key {
			index = i
			break
		}
	}
	if index < 0 {
		return nil, 0, fmt.Errorf("field '%s' is not declared", key)
	}
	if got := b.fields[index].DType; got != want {
		return nil, 0, fmt.Errorf("field '%s' is %v, not %v", key, got, want)
	}
	if b.taken[index] {
		return nil, 0, fmt.Errorf("field '%s' was already taken for this batch", key)
	}
	var data unsafe.Pointer
	var numel C.size_t
	if err := takeError(C.mmh_batch_get_buffer(b.ptr, C.size_t(index), &data, &numel)); err != nil {
		return nil, 0, fmt.Errorf("field '%s': %w", key, err)
	}
	b.taken[index] = true
	return data, int(numel), nil
}

// Uint8s is the buffer of a DTypeU8 field: Len() rows of its per-sample shape, row-major,
// zeroed, owned by the library and valid only during FillBatch. Each field is taken once.
func (b *BatchWriter) Uint8s(key string) ([]uint8, error) {
	p, n, err := b.buffer(key, DTypeU8)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*uint8)(p), n), nil
}

// Int32s is the buffer of a DTypeI32 field (see Uint8s).
func (b *BatchWriter) Int32s(key string) ([]int32, error) {
	p, n, err := b.buffer(key, DTypeI32)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*int32)(p), n), nil
}

// Int64s is the buffer of a DTypeI64 field (see Uint8s).
func (b *BatchWriter) Int64s(key string) ([]int64, error) {
	p, n, err := b.buffer(key, DTypeI64)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*int64)(p), n), nil
}

// Float32s is the buffer of a DTypeF32 field (see Uint8s).
func (b *BatchWriter) Float32s(key string) ([]float32, error) {
	p, n, err := b.buffer(key, DTypeF32)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*float32)(p), n), nil
}

// Float64s is the buffer of a DTypeF64 field (see Uint8s).
func (b *BatchWriter) Float64s(key string) ([]float64, error) {
	p, n, err := b.buffer(key, DTypeF64)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*float64)(p), n), nil
}

// batchEntry is what a registration's user data (a cgo.Handle) refers to.
type batchEntry struct {
	name     string
	fields   []Field
	ds       BatchDataset
	mu       sync.Mutex // fills of one registration run one at a time
	poisoned atomic.Bool
}

// liveBatchDatasets counts registrations whose user data has not been freed yet.
var liveBatchDatasets int64

// RegisterBatchDataset registers ds as the batch dataset type name (process-wide; configs name
// it with {"type": name}), with the declared fields. Errors: a name or key holding a NUL byte,
// and the library's (a taken name, an empty or repeated key, an unknown dtype, a negative
// size), naming the type and the field. Remove it with UnregisterDatasetType.
func RegisterBatchDataset(name string, fields []Field, ds BatchDataset) error {
	if ds == nil {
		return &Error{Code: CodeInvalidArgument, Message: "dataset is nil"}
	}
	cname, err := cString(name, "dataset type name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cname))
	// The declarations live in C memory: cgo forbids passing Go memory that holds Go pointers.
	n := len(fields)
	var raw *C.mmh_batch_field_t
	if n > 0 {
		raw = (*C.mmh_batch_field_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.mmh_batch_field_t{}))))
		defer C.free(unsafe.Pointer(raw))
	}
	rawFields := unsafe.Slice(raw, n)
	for i, f := range fields {
		key, err := cString(f.Key, "field key")
		if err != nil {
			return err
		}
		defer C.free(unsafe.Pointer(key))
		rf := &rawFields[i]
		C.mmh_batch_field_init(rf, C.size_t(unsafe.Sizeof(*rf)))
		rf.key = key
		rf.dtype = C.mmh_dtype_t(f.DType)
		if len(f.Shape) > 0 {
			shape := (*C.int64_t)(C.malloc(C.size_t(8 * len(f.Shape))))
			defer C.free(unsafe.Pointer(shape))
			copy(unsafe.Slice((*int64)(unsafe.Pointer(shape)), len(f.Shape)), f.Shape)
			rf.shape = shape
		}
		rf.ndim = C.size_t(len(f.Shape))
	}
	e := &batchEntry{name: name, ds: ds}
	for _, f := range fields {
		e.fields = append(e.fields, Field{Key: f.Key, DType: f.DType, Shape: append([]int64(nil), f.Shape...)})
	}
	h := cgo.NewHandle(e)
	atomic.AddInt64(&liveBatchDatasets, 1)
	// The library owns the handle from here: mmhgoBatchFree deletes it exactly once, also on
	// error.
	return takeError(C.mmhgo_batch_dataset_register(cname, raw, C.size_t(n), C.uintptr_t(h)))
}

// UnregisterDatasetType removes a dataset type registered from this process (batch or
// per-sample); its dataset is released once no runner uses it.
func UnregisterDatasetType(name string) error {
	cname, err := cString(name, "dataset type name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cname))
	return takeError(C.mmh_dataset_type_unregister(cname))
}

func setBatchError(batch *C.mmh_batch_t, message string) {
	m := C.CString(strings.ReplaceAll(message, "\x00", `\x00`))
	C.mmh_error_free(C.mmh_batch_set_error(batch, m))
	C.free(unsafe.Pointer(m))
}

//export mmhgoBatchLen
func mmhgoBatchLen(h C.uintptr_t) (n C.int64_t) {
	n = -1 // a negative length fails the run; nothing may unwind into C
	defer func() { _ = recover() }()
	e := cgo.Handle(h).Value().(*batchEntry)
	return C.int64_t(e.ds.Len())
}

// fillBatch runs FillBatch; ok is false after a panic (value is what recover returned).
func fillBatch(e *batchEntry, indices []int64, w *BatchWriter) (err error, ok bool, value interface{}) {
	defer func() {
		if !ok {
			value = recover()
		}
	}()
	err = e.ds.FillBatch(indices, w)
	ok = true
	return err, ok, value
}

//export mmhgoBatchFill
func mmhgoBatchFill(indices *C.int64_t, seeds *C.uint64_t, n C.size_t, batch *C.mmh_batch_t, h C.uintptr_t) (code C.mmh_code_t) {
	code = C.MMH_E_INTERNAL
	defer func() {
		if v := recover(); v != nil { // nothing may unwind into C
			setBatchError(batch, fmt.Sprintf("internal error in the Go batch dataset trampoline: %v", v))
			code = C.MMH_E_INTERNAL
		}
	}()
	e := cgo.Handle(h).Value().(*batchEntry)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.poisoned.Load() {
		setBatchError(batch, fmt.Sprintf("Go batch dataset '%s' panicked in an earlier fill", e.name))
		return C.MMH_E_FAILED_PRECONDITION
	}
	var idx []int64
	var sd []uint64
	if n > 0 {
		idx = unsafe.Slice((*int64)(unsafe.Pointer(indices)), int(n))
		sd = unsafe.Slice((*uint64)(unsafe.Pointer(seeds)), int(n))
	}
	w := &BatchWriter{ptr: batch, fields: e.fields, seeds: sd, taken: make([]bool, len(e.fields))}
	err, ok, v := fillBatch(e, idx, w)
	w.ptr = nil // the batch dies with the call
	if !ok {
		e.poisoned.Store(true)
		setBatchError(batch, fmt.Sprintf("panic in Go batch dataset '%s': %v", e.name, v))
		return C.MMH_E_INTERNAL
	}
	if err != nil {
		setBatchError(batch, err.Error())
		return C.MMH_E_INVALID_ARGUMENT
	}
	return C.MMH_OK
}

//export mmhgoBatchFree
func mmhgoBatchFree(h C.uintptr_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	cgo.Handle(h).Delete()
	atomic.AddInt64(&liveBatchDatasets, -1)
}
