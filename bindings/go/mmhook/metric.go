package mmhook

// Metric types written in Go (mmh_metric_type_register): a CustomMetric registered by name
// with RegisterMetric can be named in a config's val_evaluator/test_evaluator like a built-in
// metric ({"type": "MyMetric"}, optionally with "prefix").

/*
#include <stdint.h>
#include <stdlib.h>
#include <mmhook.h>

mmh_error_t *mmhgo_metric_type_register(const char *name, uintptr_t handle);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// CustomMetric is a metric implemented in Go (MMEngine's BaseMetric). Per evaluation the
// library calls Reset, Process once per val/test batch, Compute once, then Reset again, on the
// goroutine that called Val/Test/Train.
//
// A registered CustomMetric is process-wide: every config entry naming its type, in every
// runner, uses the one value; calls from two runners evaluating at once on two goroutines take
// turns (a mutex), their batches mixed: give each concurrent use a type of its own. Metrics
// written outside the library are single-process: an evaluation with a world size above 1
// fails naming the type.
//
// An error from Process or Compute fails the run with CodeInvalidArgument; the message names
// the type, the callback and the error's text. A panic is recovered and fails the run with
// CodeInternal and the panic text; the metric is then broken and every later call of it fails,
// naming it, until it is unregistered. Like a hook, a metric must not call runtime.Goexit
// (t.FailNow, t.Fatal). A NaN from Compute fails the run with CodeInvalidArgument naming the
// value (save_best and early stopping cannot rank it); infinities are kept.
type CustomMetric interface {
	// Process accumulates one batch (the loader's batch and the model's predict outputs).
	Process(batch *MetricBatch) error
	// Compute returns the metrics (names without prefix) since the last Reset, in order.
	Compute() ([]Metric, error)
	// Reset drops the accumulated state.
	Reset()
}

// MetricBatch is one val/test batch handed to CustomMetric.Process; valid during that call
// only (its methods return CodeFailedPrecondition errors afterwards).
type MetricBatch struct {
	ptr *C.mmh_metric_batch_t
}

// Data copies the loader batch's tensor key ("inputs", "targets" for the built-in datasets):
// its values as float64, row-major, and its shape. A missing key is a CodeNotFound error.
func (b *MetricBatch) Data(key string) ([]float64, []int64, error) { return b.tensor(key, false) }

// Output copies the model's predict output key ("outputs" for the built-in models); as Data.
func (b *MetricBatch) Output(key string) ([]float64, []int64, error) { return b.tensor(key, true) }

func (b *MetricBatch) tensor(key string, output bool) ([]float64, []int64, error) {
	if b == nil || b.ptr == nil {
		return nil, nil, &Error{Code: CodeFailedPrecondition, Message: "metric batch used outside its Process call"}
	}
	k, err := cString(key, "key")
	if err != nil {
		return nil, nil, err
	}
	defer C.free(unsafe.Pointer(k))
	var t *C.mmh_tensor_t
	if output {
		err = takeError(C.mmh_metric_batch_get_output_tensor(b.ptr, k, &t))
	} else {
		err = takeError(C.mmh_metric_batch_get_data_tensor(b.ptr, k, &t))
	}
	if err != nil {
		return nil, nil, err
	}
	var ndim C.size_t
	var shapePtr *C.int64_t
	var numel C.size_t
	if err := takeError(C.mmh_tensor_get_ndim(t, &ndim)); err != nil {
		return nil, nil, err
	}
	if err := takeError(C.mmh_tensor_get_shape(t, &shapePtr)); err != nil {
		return nil, nil, err
	}
	if err := takeError(C.mmh_tensor_get_numel(t, &numel)); err != nil {
		return nil, nil, err
	}
	shape := make([]int64, int(ndim))
	if ndim > 0 {
		for i, s := range unsafe.Slice(shapePtr, int(ndim)) {
			shape[i] = int64(s)
		}
	}
	values := make([]float64, int(numel))
	var dst *C.double
	if numel > 0 {
		dst = (*C.double)(unsafe.Pointer(&values[0]))
	}
	if err := takeError(C.mmh_tensor_copy_to_host_f64(t, dst, numel)); err != nil {
		return nil, nil, err
	}
	return values, shape, nil
}

type metricEntry struct {
	name   string
	mu     sync.Mutex
	metric CustomMetric
	broken bool
}

// callMetric runs f under the entry's lock: nil, f's error, or the text of a recovered panic
// (broken is then set).
func callMetric(e *metricEntry, what string, f func(CustomMetric) error) (code C.mmh_code_t, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.broken {
		return C.MMH_E_FAILED_PRECONDITION, fmt.Sprintf("Go metric '%s' panicked in an earlier call; unregister it", e.name)
	}
	defer func() {
		if v := recover(); v != nil {
			e.broken = true
			code = C.MMH_E_INTERNAL
			text = fmt.Sprintf("panic in Go metric '%s' %s: %v", e.name, what, v)
		}
	}()
	if err := f(e.metric); err != nil {
		return C.MMH_E_INVALID_ARGUMENT, err.Error()
	}
	return C.MMH_OK, ""
}

func cMessage(text string) *C.char { return C.CString(strings.ReplaceAll(text, "\x00", `\x00`)) }

//export mmhgoMetricProcess
func mmhgoMetricProcess(batch *C.mmh_metric_batch_t, h C.uintptr_t) (code C.mmh_code_t) {
	code = C.MMH_E_INTERNAL
	defer func() { _ = recover() }() // nothing may unwind into C
	e := cgo.Handle(h).Value().(*metricEntry)
	b := &MetricBatch{ptr: batch}
	code, text := callMetric(e, "Process", func(m CustomMetric) error { return m.Process(b) })
	b.ptr = nil // the batch dies with the call
	if code != C.MMH_OK {
		m := cMessage(text)
		C.mmh_error_free(C.mmh_metric_batch_set_error(batch, m))
		C.free(unsafe.Pointer(m))
	}
	return code
}

//export mmhgoMetricCompute
func mmhgoMetricCompute(results *C.mmh_metric_results_t, h C.uintptr_t) (code C.mmh_code_t) {
	code = C.MMH_E_INTERNAL
	defer func() { _ = recover() }() // nothing may unwind into C
	e := cgo.Handle(h).Value().(*metricEntry)
	code, text := callMetric(e, "Compute", func(m CustomMetric) error {
		values, err := m.Compute()
		if err != nil {
			return err
		}
		for _, v := range values {
			n, err := cString(v.Name, "result name")
			if err != nil {
				return err
			}
			err = takeError(C.mmh_metric_results_set_value(results, n, C.double(v.Value)))
			C.free(unsafe.Pointer(n))
			if err != nil {
				return fmt.Errorf("result %q: %w", v.Name, err)
			}
		}
		return nil
	})
	if code != C.MMH_OK {
		m := cMessage(text)
		C.mmh_error_free(C.mmh_metric_results_set_error(results, m))
		C.free(unsafe.Pointer(m))
	}
	return code
}

//export mmhgoMetricReset
func mmhgoMetricReset(h C.uintptr_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	e := cgo.Handle(h).Value().(*metricEntry)
	// A panic marks the metric broken: the next Process/Compute reports it.
	callMetric(e, "Reset", func(m CustomMetric) error { m.Reset(); return nil })
}

//export mmhgoMetricFree
func mmhgoMetricFree(h C.uintptr_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	cgo.Handle(h).Delete()
}

// RegisterMetric registers m as the metric type name (process-wide). Errors: a NUL in name,
// an empty name, a name taken by a built-in or registered metric type (CodeInvalidArgument).
func RegisterMetric(name string, m CustomMetric) error {
	if m == nil {
		return &Error{Code: CodeInvalidArgument, Message: "metric is nil"}
	}
	n, err := cString(name, "metric type name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(n))
	h := cgo.NewHandle(&metricEntry{name: name, metric: m})
	// The library owns the handle from here on, also on error (it deletes it then).
	return takeError(C.mmhgo_metric_type_register(n, C.uintptr_t(h)))
}

// UnregisterMetric removes a metric type registered with RegisterMetric; the library lets go
// of the metric once no runner built from it is alive. CodeNotFound if no such type was
// registered.
func UnregisterMetric(name string) error {
	n, err := cString(name, "metric type name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(n))
	return takeError(C.mmh_metric_type_unregister(n))
}
