// Package mmhook is the Go binding of the mmhook training engine, over the C ABI of
// libmmhook.so (capi/include/mmhook.h).
//
// Build with CGO_CFLAGS="-I<repo>/capi/include" and CGO_LDFLAGS="-L<dir of libmmhook.so>"
// (add "-Wl,-rpath,<dir>" or set LD_LIBRARY_PATH to run).
//
// Hooks are Go functions func(*HookCtx) HookAction. They run on the goroutine that called
// Train/Val/Test, one at a time, in priority order. A panic inside a hook is recovered in the
// trampoline, fails the run like HookAction Abort (the error names the hook and carries the
// panic text), and is re-raised by Train once the library has returned.
package mmhook

/*
#cgo LDFLAGS: -lmmhook
#include <stdint.h>
#include <stdlib.h>
#include <mmhook.h>

mmh_error_t *mmhgo_register_hook(mmh_runner_t *runner, const char *name, int32_t priority,
                                 uint64_t stages, uintptr_t handle);
void mmhgo_log_set(uintptr_t handle);
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The ABI version this binding was written against.
const (
	BindingVersionMajor = 0
	BindingVersionMinor = 1
	BindingVersionPatch = 0
)

// Code is an error code of the C ABI (MMH_E_*).
type Code int32

// Error codes.
const (
	CodeOK                 Code = 0
	CodeInvalidArgument    Code = 1
	CodeNotFound           Code = 2
	CodeUnavailable        Code = 3
	CodeFailedPrecondition Code = 4
	CodeOOM                Code = 5
	CodeHookAborted        Code = 6
	CodeTorch              Code = 7
	CodeABI                Code = 8
	CodeInternal           Code = 9
	CodeIO                 Code = 10
	CodeConfig             Code = 11
	CodeCheckpoint         Code = 12
	CodeDistributed        Code = 13
	CodeCancelled          Code = 14
)

var codeNames = [...]string{"ok", "invalid argument", "not found", "unavailable",
	"failed precondition", "out of memory", "hook aborted", "torch error", "ABI mismatch",
	"internal error", "I/O error", "config error", "checkpoint error", "distributed error",
	"cancelled"}

// String is a short name of the code ("hook aborted").
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("unknown error %d", int32(c))
}

// Error is an error of the library or of this binding.
type Error struct {
	Code    Code   // one of the Code* constants
	Message string // names the option, hook, stage or file concerned
}

func (e *Error) Error() string {
	return fmt.Sprintf("mmhook error %d (%s): %s", int32(e.Code), e.Code, e.Message)
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code Code) bool {
	e, ok := err.(*Error)
	return ok && e.Code == code
}

// takeError converts (and frees) a library error; nil stays nil (as a nil interface).
func takeError(e *C.mmh_error_t) error {
	if e == nil {
		return nil
	}
	out := &Error{Code: Code(C.mmh_error_code(e)), Message: C.GoString(C.mmh_error_message(e))}
	C.mmh_error_free(e)
	return out
}

func checkCode(c C.mmh_code_t, what string) error {
	if c == C.MMH_OK {
		return nil
	}
	return &Error{Code: Code(c), Message: what + ": " + Code(c).String()}
}

// LibraryVersion is the loaded library's version.
func LibraryVersion() (major, minor, patch uint32) {
	v := uint32(C.mmh_version_number())
	return v >> 16, (v >> 8) & 0xff, v & 0xff
}

// LibraryVersionString is the loaded library's version as "major.minor.patch".
func LibraryVersionString() string { return C.GoString(C.mmh_version_string()) }

// CheckVersion refuses a library whose major version differs from the binding's or whose
// minor version is older. NewRunner calls it.
func CheckVersion() error {
	major, minor, patch := LibraryVersion()
	return checkVersionOf(major, minor, patch)
}

func checkVersionOf(major, minor, patch uint32) error {
	if major != BindingVersionMajor || minor < BindingVersionMinor {
		return &Error{Code: CodeABI, Message: fmt.Sprintf(
			"libmmhook %d.%d.%d is incompatible with the Go binding %d.%d.%d (needs %d.x with x >= %d)",
			major, minor, patch, BindingVersionMajor, BindingVersionMinor, BindingVersionPatch,
			BindingVersionMajor, BindingVersionMinor)}
	}
	return nil
}

// Stage is a hook stage: MMEngine's Hook.stages order, then on_exception.
type Stage int32

// Stages in order.
const (
	StageBeforeRun Stage = iota
	StageAfterLoadCheckpoint
	StageBeforeTrain
	StageBeforeTrainEpoch
	StageBeforeTrainIter
	StageAfterTrainIter
	StageAfterTrainEpoch
	StageBeforeVal
	StageBeforeValEpoch
	StageBeforeValIter
	StageAfterValIter
	StageAfterValEpoch
	StageAfterVal
	StageBeforeSaveCheckpoint
	StageAfterTrain
	StageBeforeTest
	StageBeforeTestEpoch
	StageBeforeTestIter
	StageAfterTestIter
	StageAfterTestEpoch
	StageAfterTest
	StageAfterRun
	StageOnException
	StageCount
)

// String is MMEngine's name of the stage ("after_train_iter"); "" if out of range.
func (s Stage) String() string {
	p := C.mmh_stage_name(C.mmh_stage_t(s))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// Bit is the one-stage set.
func (s Stage) Bit() Stages { return Stages(1) << uint(s) }

// Stages is a set of stages (a hook's stage mask).
type Stages uint64

// StagesAll is every stage.
const StagesAll Stages = (Stages(1) << uint(StageCount)) - 1

// StagesOf builds a set.
func StagesOf(stages ...Stage) Stages {
	var m Stages
	for _, s := range stages {
		m |= s.Bit()
	}
	return m
}

// Has reports whether the set contains s.
func (m Stages) Has(s Stage) bool { return m&s.Bit() != 0 }

// MMEngine's priority levels; a lower value runs earlier.
const (
	PriorityHighest     int32 = 0
	PriorityVeryHigh    int32 = 10
	PriorityHigh        int32 = 30
	PriorityAboveNormal int32 = 40
	PriorityNormal      int32 = 50
	PriorityBelowNormal int32 = 60
	PriorityLow         int32 = 70
	PriorityVeryLow     int32 = 90
	PriorityLowest      int32 = 100
)

// HookAction is what a hook asks the runner to do next.
type HookAction int32

const (
	// Continue goes on.
	Continue HookAction = 0
	// Stop is a graceful stop, like EarlyStoppingHook, at the next loop boundary.
	Stop HookAction = 1
	// Abort fails the run with CodeHookAborted and the text of HookCtx.SetError.
	Abort HookAction = -1
)

// HookFunc is a hook.
type HookFunc func(ctx *HookCtx) HookAction

// ---------------------------------------------------------------------------------------------
// Hook context and tensors

// HookCtx is the context of one hook call; it is invalid after the call returns (its methods
// then return zero values or CodeFailedPrecondition errors).
type HookCtx struct {
	ptr *C.mmh_hook_ctx_t
}

var errCtxGone = &Error{Code: CodeFailedPrecondition, Message: "the hook ctx is used outside its hook call"}

// Valid reports whether the ctx is still inside its hook call.
func (c *HookCtx) Valid() bool { return c != nil && c.ptr != nil }

// Stage is the stage being called (-1 outside the call).
func (c *HookCtx) Stage() Stage {
	if !c.Valid() {
		return -1
	}
	return Stage(C.mmh_ctx_stage(c.ptr))
}

// Epoch is runner.epoch (completed epochs).
func (c *HookCtx) Epoch() int64 {
	if !c.Valid() {
		return -1
	}
	return int64(C.mmh_ctx_epoch(c.ptr))
}

// Iter is runner.iter (completed iterations).
func (c *HookCtx) Iter() int64 {
	if !c.Valid() {
		return -1
	}
	return int64(C.mmh_ctx_iter(c.ptr))
}

// BatchIdx is the batch index in iteration stages, -1 elsewhere.
func (c *HookCtx) BatchIdx() int64 {
	if !c.Valid() {
		return -1
	}
	return int64(C.mmh_ctx_batch_idx(c.ptr))
}

// MaxEpochs is runner.max_epochs (0 without a train loop).
func (c *HookCtx) MaxEpochs() int64 {
	if !c.Valid() {
		return -1
	}
	return int64(C.mmh_ctx_max_epochs(c.ptr))
}

// MaxIters is runner.max_iters (0 without a train loop).
func (c *HookCtx) MaxIters() int64 {
	if !c.Valid() {
		return -1
	}
	return int64(C.mmh_ctx_max_iters(c.ptr))
}

// Scalar is the current value of a message-hub scalar ("train/loss"); ok is false if absent.
func (c *HookCtx) Scalar(key string) (value float64, ok bool) {
	if !c.Valid() {
		return 0, false
	}
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var v C.double
	if C.mmh_ctx_scalar(c.ptr, k, &v) != C.MMH_OK {
		return 0, false
	}
	return float64(v), true
}

// UpdateScalar appends a value to a message-hub scalar (logged like the built-in ones).
func (c *HookCtx) UpdateScalar(key string, value float64) error {
	if !c.Valid() {
		return errCtxGone
	}
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	return checkCode(C.mmh_ctx_update_scalar(c.ptr, k, C.double(value)), "UpdateScalar("+key+")")
}

// Metric is one evaluation metric.
type Metric struct {
	Name  string
	Value float64
}

// Metrics are the evaluation's metrics (after_val_epoch / after_test_epoch; empty elsewhere).
func (c *HookCtx) Metrics() []Metric {
	if !c.Valid() {
		return nil
	}
	n := int(C.mmh_ctx_metric_count(c.ptr))
	out := make([]Metric, 0, n)
	for i := 0; i < n; i++ {
		var name *C.char
		var v C.double
		if C.mmh_ctx_metric_at(c.ptr, C.size_t(i), &name, &v) == C.MMH_OK && name != nil {
			out = append(out, Metric{Name: C.GoString(name), Value: float64(v)})
		}
	}
	return out
}

// ParamGroupCount is the number of optimizer parameter groups.
func (c *HookCtx) ParamGroupCount() int {
	if !c.Valid() {
		return 0
	}
	return int(C.mmh_ctx_param_group_count(c.ptr))
}

// Lr is the learning rate of a parameter group.
func (c *HookCtx) Lr(group int) (float64, error) {
	if !c.Valid() {
		return 0, errCtxGone
	}
	if group < 0 {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("Lr(group %d): negative group", group)}
	}
	var v C.double
	if err := checkCode(C.mmh_ctx_lr(c.ptr, C.size_t(group), &v), fmt.Sprintf("Lr(group %d)", group)); err != nil {
		return 0, err
	}
	return float64(v), nil
}

// SetLr sets the learning rate of a parameter group.
func (c *HookCtx) SetLr(group int, lr float64) error {
	if !c.Valid() {
		return errCtxGone
	}
	if group < 0 {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("SetLr(group %d): negative group", group)}
	}
	return checkCode(C.mmh_ctx_set_lr(c.ptr, C.size_t(group), C.double(lr)), fmt.Sprintf("SetLr(group %d)", group))
}

// SetError sets the message of an Abort.
func (c *HookCtx) SetError(message string) {
	if !c.Valid() {
		return
	}
	m := C.CString(strings.ReplaceAll(message, "\x00", " "))
	defer C.free(unsafe.Pointer(m))
	C.mmh_ctx_set_error(c.ptr, m)
}

// ErrorMessage is the failure's message during on_exception; ok is false elsewhere.
func (c *HookCtx) ErrorMessage() (message string, ok bool) {
	if !c.Valid() {
		return "", false
	}
	var p *C.char
	if C.mmh_ctx_error_message(c.ptr, &p) != C.MMH_OK || p == nil {
		return "", false
	}
	return C.GoString(p), true
}

// CheckpointPut stores bytes under hook_states/<hook name>/<key> of the checkpoint being
// saved (before_save_checkpoint only; CodeFailedPrecondition elsewhere).
func (c *HookCtx) CheckpointPut(key string, data []byte) error {
	if !c.Valid() {
		return errCtxGone
	}
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var one [1]byte
	p := unsafe.Pointer(&one[0])
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return checkCode(C.mmh_ctx_checkpoint_put(c.ptr, k, p, C.size_t(len(data))), "CheckpointPut("+key+")")
}

// CheckpointGet reads bytes stored by CheckpointPut from the checkpoint being loaded
// (after_load_checkpoint only); found is false if the key is absent.
func (c *HookCtx) CheckpointGet(key string) (data []byte, found bool, err error) {
	if !c.Valid() {
		return nil, false, errCtxGone
	}
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	buf := make([]byte, 64)
	for {
		var n C.size_t
		rc := C.mmh_ctx_checkpoint_get(c.ptr, k, unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &n)
		if rc == C.MMH_E_NOT_FOUND {
			return nil, false, nil
		}
		if err := checkCode(rc, "CheckpointGet("+key+")"); err != nil {
			return nil, false, err
		}
		if int(n) <= len(buf) {
			return buf[:n], true, nil
		}
		buf = make([]byte, int(n))
	}
}

// TensorView is a tensor borrowed from a hook ctx, valid during the hook call.
type TensorView struct {
	ptr *C.mmh_tensor_t
	ctx *HookCtx
}

// Tensor is a tensor of the call: "inputs", "targets" (iteration stages), "loss"
// (after_train_iter), "outputs" (after_val_iter / after_test_iter), or another batch key.
func (c *HookCtx) Tensor(key string) (*TensorView, bool) {
	if !c.Valid() {
		return nil, false
	}
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var t *C.mmh_tensor_t
	if C.mmh_ctx_tensor(c.ptr, k, &t) != C.MMH_OK || t == nil {
		return nil, false
	}
	return &TensorView{ptr: t, ctx: c}, true
}

func (t *TensorView) live() bool { return t != nil && t.ctx.Valid() }

// Shape is the tensor's shape (nil after the hook call).
func (t *TensorView) Shape() []int64 {
	if !t.live() {
		return nil
	}
	return shapeOf(t.ptr)
}

// Numel is the number of elements (0 after the hook call).
func (t *TensorView) Numel() int {
	if !t.live() {
		return 0
	}
	return int(C.mmh_tensor_numel(t.ptr))
}

// Float64s copies the elements, row-major, converted to float64.
func (t *TensorView) Float64s() ([]float64, error) {
	if !t.live() {
		return nil, errCtxGone
	}
	return copyF64(t.ptr)
}

// Retain makes an owned handle to the same tensor, usable after the hook call.
func (t *TensorView) Retain() (*Tensor, error) {
	if !t.live() {
		return nil, errCtxGone
	}
	var out *C.mmh_tensor_t
	if err := takeError(C.mmh_tensor_retain(t.ptr, &out)); err != nil {
		return nil, err
	}
	owned := &Tensor{ptr: out}
	runtime.SetFinalizer(owned, (*Tensor).Close)
	return owned, nil
}

// Tensor is an owned tensor handle; Close (or the finalizer) frees it.
type Tensor struct {
	mu  sync.Mutex
	ptr *C.mmh_tensor_t
}

// Shape is the tensor's shape (nil after Close).
func (t *Tensor) Shape() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return shapeOf(t.ptr)
}

// Numel is the number of elements.
func (t *Tensor) Numel() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(C.mmh_tensor_numel(t.ptr))
}

// Float64s copies the elements as float64.
func (t *Tensor) Float64s() ([]float64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return nil, &Error{Code: CodeFailedPrecondition, Message: "the tensor is closed"}
	}
	return copyF64(t.ptr)
}

// Close frees the handle; idempotent.
func (t *Tensor) Close() {
	t.mu.Lock()
	p := t.ptr
	t.ptr = nil
	t.mu.Unlock()
	if p != nil {
		C.mmh_tensor_free(p)
	}
	runtime.SetFinalizer(t, nil)
}

func shapeOf(t *C.mmh_tensor_t) []int64 {
	n := int(C.mmh_tensor_ndim(t))
	p := C.mmh_tensor_shape(t)
	if n == 0 || p == nil {
		return []int64{}
	}
	out := make([]int64, n)
	copy(out, unsafe.Slice((*int64)(unsafe.Pointer(p)), n))
	return out
}

func copyF64(t *C.mmh_tensor_t) ([]float64, error) {
	n := int(C.mmh_tensor_numel(t))
	out := make([]float64, n)
	if n == 0 {
		var one [1]float64
		return out, takeError(C.mmh_tensor_copy_to_host_f64(t, (*C.double)(unsafe.Pointer(&one[0])), 0))
	}
	if err := takeError(C.mmh_tensor_copy_to_host_f64(t, (*C.double)(unsafe.Pointer(&out[0])), C.size_t(n))); err != nil {
		return nil, err
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------------
// Trampolines

// panicBox holds the first panic of a run, to be re-raised after the library returned.
type panicBox struct {
	set   bool
	value interface{}
}

// hookEntry is what a registered hook's user_data (a cgo.Handle) refers to.
type hookEntry struct {
	fn       HookFunc
	name     string
	panics   *panicBox
	poisoned bool // set after fn panicked: it is not called again
}

// liveHooks counts registered hooks whose user data has not been freed yet.
var liveHooks int64

//export mmhgoHookCall
func mmhgoHookCall(ctx *C.mmh_hook_ctx_t, h C.uintptr_t) (action C.mmh_hook_action_t) {
	action = C.MMH_HOOK_ABORT
	hc := &HookCtx{ptr: ctx}
	var e *hookEntry
	defer func() {
		hc.ptr = nil // the ctx dies with the call
		if v := recover(); v != nil {
			name := "?"
			if e != nil {
				e.poisoned = true
				name = e.name
				if !e.panics.set {
					e.panics.set, e.panics.value = true, v
				}
			}
			m := C.CString(fmt.Sprintf("panic in Go hook '%s': %v", name, v))
			C.mmh_ctx_set_error(ctx, m)
			C.free(unsafe.Pointer(m))
			action = C.MMH_HOOK_ABORT
		}
	}()
	e = cgo.Handle(h).Value().(*hookEntry)
	if e.poisoned {
		return C.MMH_HOOK_CONTINUE
	}
	return C.mmh_hook_action_t(e.fn(hc))
}

//export mmhgoHookFree
func mmhgoHookFree(h C.uintptr_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	cgo.Handle(h).Delete()
	atomic.AddInt64(&liveHooks, -1)
}

type logHandler func(level int32, message string)

//export mmhgoLogCall
func mmhgoLogCall(level C.int32_t, message *C.char, h C.uintptr_t) {
	defer func() { _ = recover() }()
	f := cgo.Handle(h).Value().(logHandler)
	f(int32(level), C.GoString(message))
}

//export mmhgoLogFree
func mmhgoLogFree(h C.uintptr_t) {
	defer func() { _ = recover() }()
	cgo.Handle(h).Delete()
}

// SetLogHandler routes the engine's log records (level 10 debug, 20 info, 30 warning,
// 40 error; message without the time/level prefix) to f, or stops routing when f is nil.
// Process-wide; f may be called from any thread. A panic inside f is swallowed.
func SetLogHandler(f func(level int32, message string)) {
	if f == nil {
		C.mmhgo_log_set(0)
		return
	}
	C.mmhgo_log_set(C.uintptr_t(cgo.NewHandle(logHandler(f))))
}

// ---------------------------------------------------------------------------------------------
// Runner

// Runner is a training runner built from a JSON config (MMEngine's config keys). Calls on one
// runner must not overlap, except RequestStop, which is safe from any goroutine. Close frees
// it (a finalizer does too, if Close is forgotten).
type Runner struct {
	mu     sync.Mutex // guards ptr between Close and RequestStop
	ptr    *C.mmh_runner_t
	panics *panicBox
}

// NewRunner creates a runner from a JSON config. It checks the library version first.
func NewRunner(configJSON string) (*Runner, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	if strings.IndexByte(configJSON, 0) >= 0 {
		return nil, &Error{Code: CodeInvalidArgument, Message: "config JSON contains a NUL byte"}
	}
	cfg := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cfg))
	var p *C.mmh_runner_t
	if err := takeError(C.mmh_runner_create(cfg, &p)); err != nil {
		return nil, err
	}
	r := &Runner{ptr: p, panics: &panicBox{}}
	runtime.SetFinalizer(r, (*Runner).Close)
	return r, nil
}

var errClosed = &Error{Code: CodeFailedPrecondition, Message: "the runner is closed"}

func (r *Runner) raw() *C.mmh_runner_t {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ptr
}

// Close destroys the runner and releases every hook; idempotent.
func (r *Runner) Close() {
	r.mu.Lock()
	p := r.ptr
	r.ptr = nil
	r.mu.Unlock()
	if p != nil {
		C.mmh_runner_destroy(p)
	}
	runtime.SetFinalizer(r, nil)
}

// RegisterHook registers fn, called at `stages` with `priority` (0..100, lower runs earlier).
// fn is released when the hook is removed, when the runner is closed, or now if registration
// fails.
func (r *Runner) RegisterHook(name string, priority int32, stages Stages, fn HookFunc) error {
	p := r.raw()
	if p == nil {
		return errClosed
	}
	if fn == nil {
		return &Error{Code: CodeInvalidArgument, Message: "hook '" + name + "': fn is nil"}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return &Error{Code: CodeInvalidArgument, Message: "hook name contains a NUL byte"}
	}
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	h := cgo.NewHandle(&hookEntry{fn: fn, name: name, panics: r.panics})
	atomic.AddInt64(&liveHooks, 1)
	// From here the library owns the handle: it frees it (mmhgoHookFree) on failure too.
	err := takeError(C.mmhgo_register_hook(p, n, C.int32_t(priority), C.uint64_t(stages), C.uintptr_t(h)))
	runtime.KeepAlive(r)
	return err
}

// RemoveHook removes the hook named `name` (CodeNotFound if absent).
func (r *Runner) RemoveHook(name string) error {
	p := r.raw()
	if p == nil {
		return errClosed
	}
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	err := takeError(C.mmh_runner_remove_hook(p, n))
	runtime.KeepAlive(r)
	return err
}

func (r *Runner) run(f func(*C.mmh_runner_t) *C.mmh_error_t) error {
	p := r.raw()
	if p == nil {
		return errClosed
	}
	err := takeError(f(p))
	runtime.KeepAlive(r)
	if r.panics.set {
		// A hook panicked: the library has unwound its loops; continue the panic here.
		v := r.panics.value
		r.panics.set, r.panics.value = false, nil
		panic(v)
	}
	return err
}

// Train trains. A panic of a hook is re-raised here after the library returned.
func (r *Runner) Train() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_train(p) })
}

// Val validates once.
func (r *Runner) Val() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_val(p) })
}

// Test tests once.
func (r *Runner) Test() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_test(p) })
}

// RequestStop asks the running loop to stop after the current iteration. Safe from any
// goroutine (and from hooks); a no-op after Close.
func (r *Runner) RequestStop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		C.mmh_runner_request_stop(r.ptr)
	}
}

func (r *Runner) readBuffer(get func(p *C.mmh_runner_t, buf *C.char, cap C.size_t) C.size_t) string {
	p := r.raw()
	if p == nil {
		return ""
	}
	defer runtime.KeepAlive(r)
	capacity := 256
	for {
		buf := (*C.char)(C.malloc(C.size_t(capacity)))
		n := int(get(p, buf, C.size_t(capacity)))
		if n < capacity {
			s := C.GoStringN(buf, C.int(n))
			C.free(unsafe.Pointer(buf))
			return s
		}
		C.free(unsafe.Pointer(buf))
		capacity = n + 1
	}
}

// HooksInfo is MMEngine's get_hooks_info() text: per stage, the hooks with their priorities.
func (r *Runner) HooksInfo() string {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t) C.size_t { return C.mmh_runner_hooks_info(p, b, c) })
}

// MetricsJSON is the metrics of the last val/test as a JSON object.
func (r *Runner) MetricsJSON() string {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t) C.size_t { return C.mmh_runner_metrics_json(p, b, c) })
}

// Metrics is the metrics of the last val/test, in order.
func (r *Runner) Metrics() ([]Metric, error) {
	text := r.MetricsJSON()
	if text == "" {
		return nil, errClosed
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	bad := &Error{Code: CodeInternal, Message: "unexpected metrics JSON from the library: " + text}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	out := []Metric{}
	for dec.More() {
		k, err := dec.Token()
		key, ok := k.(string)
		if err != nil || !ok {
			return nil, bad
		}
		var v *float64
		if err := dec.Decode(&v); err != nil {
			return nil, bad
		}
		m := Metric{Name: key}
		if v != nil {
			m.Value = *v
		} else {
			m.Value = math.NaN()
		}
		out = append(out, m)
	}
	return out, nil
}

// HookTimingJSON is the hook timing table (hook, stage, calls, total_ms, max_ms) as JSON.
func (r *Runner) HookTimingJSON() string {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t) C.size_t {
		return C.mmh_runner_hook_timing_json(p, b, c)
	})
}

// LastCheckpoint is the path of the newest checkpoint ("" if none).
func (r *Runner) LastCheckpoint() string {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t) C.size_t {
		return C.mmh_runner_last_checkpoint(p, b, c)
	})
}

// Epoch is the number of completed epochs.
func (r *Runner) Epoch() int64 {
	defer runtime.KeepAlive(r)
	return int64(C.mmh_runner_epoch(r.raw()))
}

// Iter is the number of completed iterations.
func (r *Runner) Iter() int64 {
	defer runtime.KeepAlive(r)
	return int64(C.mmh_runner_iter(r.raw()))
}
