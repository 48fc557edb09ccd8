// Package mmhook is the Go binding of the mmhook training engine, over the C ABI of
// libmmhook.so (capi/include/mmhook.h).
//
// Build with CGO_CFLAGS="-I<repo>/capi/include" and CGO_LDFLAGS="-L<dir of libmmhook.so>"
// (add "-Wl,-rpath,<dir>" or set LD_LIBRARY_PATH to run).
//
// # Hooks
//
// Hooks are Go functions func(*HookCtx) HookAction. They run one at a time, in priority order,
// on the goroutine that called Train/Val/Test (the library calls them on its thread), with no
// goroutine switch: a hook call costs the library's dispatch plus a cgo callback. With no-op
// hooks (BenchmarkHookCall, 2 shared cores, runs interleaved) that is 0.9-1.5 us per call,
// against 23-44 us when each call's hook bodies ran on a goroutine of their own, a round trip
// between two OS threads, since the goroutine that comes from C stays on its thread.
//
// A panic inside a hook fails the run like HookAction Abort (the error names the hook and
// carries the panic text) and is re-raised by Train once the library has returned. Such a hook
// is skipped for the rest of that call, and since its state may be broken, later calls fail
// with CodeFailedPrecondition naming it until it is removed.
//
// A hook must not call runtime.Goexit, nor t.FailNow, t.Fatal, t.Fatalf, t.SkipNow or
// t.Skip, which call it: in a test, report with t.Error/t.Errorf and return (Abort, to end the
// run). A Goexit cannot be caught, and it unwinds the goroutine through the library's frames,
// whose C++ cleanup never runs: the library runner stays mid-call for good. The binding detects
// it: Train/Val/Test does not return (its goroutine ends, as Goexit means), on_exception hooks
// do not run, and the runner is broken: every later call returns CodeFailedPrecondition
// ("hook 'X' called runtime.Goexit (t.FailNow/t.Fatal); the runner cannot be used again:
// create a new one") and getters return zero values. Close returns at once without destroying
// it: the library runner and its hooks are leaked on purpose, since destroying a runner left
// mid-call is not safe. Other runners and the process go on. A hook that must survive a
// Goexit in code it calls can run that code on a goroutine of its own and wait for it (the
// HookCtx may be used there until the hook returns), paying the round trip on each call.
//
// # Goroutines
//
// No sequence of calls from any goroutines can crash the process:
//
//   - A Runner may be shared by goroutines; its calls run one at a time. A call made while
//     Train, Val or Test runs on another goroutine waits for it to end, except a second
//     Train/Val/Test, which fails with CodeFailedPrecondition ("already running").
//   - RequestStop never waits: it is safe from any goroutine, from hooks and log handlers, and
//     a no-op after Close.
//   - Close from another goroutine asks the running call to stop (as RequestStop), waits until
//     it has returned, then destroys the runner and releases its hooks. Close from inside the
//     running call (one of its hooks, or a log handler) does not wait: the runner is destroyed
//     as soon as the call returns. After Close, calls return CodeFailedPrecondition errors or
//     zero values.
//   - From inside the running call, the runner's getters (Epoch, HooksInfo, ...) answer at
//     once; Train/Val/Test, RegisterHook and RemoveHook fail with CodeFailedPrecondition.
//   - A hook must not wait for another goroutine that calls Close or a getter of the hook's
//     runner: that goroutine waits for the hook's call to end, as with a sync.Mutex.
//   - A HookCtx and its TensorViews are valid during their hook call only; goroutines the hook
//     starts may use them until it returns (its return waits for their calls in progress), and
//     afterwards they return zero values or CodeFailedPrecondition. A retained Tensor may be
//     used from any goroutine.
//   - A log handler (SetLogHandler) is process-wide and may be called from any thread, several
//     at once, each call on a goroutine of its own. It may call into this package: create and
//     run other runners, replace or clear the handler (a handler stays alive until its calls in
//     progress return), RequestStop, Close (which never waits from a log handler). A call on a
//     runner that is busy on another goroutine fails with CodeFailedPrecondition, or returns
//     zero values, instead of waiting, since the library thread that logs may be the one it
//     would wait for. Records logged during a handler's call on that thread are not passed
//     back to it. A panic or runtime.Goexit in a handler is swallowed (its goroutine of its
//     own, unlike a hook's, is what lets a Goexit end there; see mmhgoLogCall).
//
// Strings passed to the library are NUL-terminated in C: every string argument holding a NUL
// byte is refused with CodeInvalidArgument, naming the argument, instead of being cut short.
package mmhook

/*
#cgo LDFLAGS: -lmmhook
#include <stdint.h>
#include <stdlib.h>
#include <mmhook.h>

mmh_error_t *mmhgo_add_hook(mmh_runner_t *runner, const char *name, int32_t priority,
                            uint64_t stages, uintptr_t handle, char *name_buf, size_t name_cap,
                            size_t *name_len);
mmh_error_t *mmhgo_log_set(uintptr_t handle);
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The ABI version this binding was written against.
const (
	BindingVersionMajor = 0
	BindingVersionMinor = 2
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

// takeFound is takeError for a lookup: an error with code absent is (false, nil), the thing
// asked for does not exist.
func takeFound(e *C.mmh_error_t, absent Code) (bool, error) {
	err := takeError(e)
	if err == nil {
		return true, nil
	}
	if IsCode(err, absent) {
		return false, nil
	}
	return false, err
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
// Strings into C

// cString copies s for C. C strings end at the first NUL, so a string holding one would reach
// the library cut short (another key, another hook's name): it is refused instead.
func cString(s, what string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Code: CodeInvalidArgument, Message: what + " " + strconv.Quote(s) + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// ---------------------------------------------------------------------------------------------
// Hook context and tensors

// HookCtx is the context of one hook call; it is invalid after the call returns (its methods
// then return zero values or CodeFailedPrecondition errors). Goroutines started by the hook
// may use it until the hook returns; the hook's return waits for their calls in progress.
type HookCtx struct {
	// Read-held around every C call on ptr, write-held to end the ctx: the library's ctx is
	// never touched after the hook returned, even from a goroutine the hook left running.
	mu  sync.RWMutex
	ptr *C.mmh_hook_ctx_t
}

var errCtxGone = &Error{Code: CodeFailedPrecondition, Message: "the hook ctx is used outside its hook call"}

// acquire returns the live ctx with the read lock held (release it with c.mu.RUnlock), or nil
// with no lock held.
func (c *HookCtx) acquire() *C.mmh_hook_ctx_t {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	if c.ptr == nil {
		c.mu.RUnlock()
		return nil
	}
	return c.ptr
}

// end invalidates the ctx once the hook returned (after any call in progress on it).
func (c *HookCtx) end() {
	c.mu.Lock()
	c.ptr = nil
	c.mu.Unlock()
}

// Valid reports whether the ctx is still inside its hook call.
func (c *HookCtx) Valid() bool {
	if c.acquire() == nil {
		return false
	}
	c.mu.RUnlock()
	return true
}

// getInt64 calls an int64 getter on the live ctx; -1 outside the call (the library's error
// then says the ctx is dead, which is all -1 means here).
func (c *HookCtx) getInt64(get func(*C.mmh_hook_ctx_t, *C.int64_t) *C.mmh_error_t) int64 {
	p := c.acquire()
	if p == nil {
		return -1
	}
	defer c.mu.RUnlock()
	v := C.int64_t(-1)
	if err := takeError(get(p, &v)); err != nil {
		return -1
	}
	return int64(v)
}

// Stage is the stage being called (-1 outside the call).
func (c *HookCtx) Stage() Stage {
	p := c.acquire()
	if p == nil {
		return -1
	}
	defer c.mu.RUnlock()
	s := C.mmh_stage_t(-1)
	if err := takeError(C.mmh_hook_ctx_get_stage(p, &s)); err != nil {
		return -1
	}
	return Stage(s)
}

// Epoch is runner.epoch (completed epochs).
func (c *HookCtx) Epoch() int64 {
	return c.getInt64(func(p *C.mmh_hook_ctx_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_hook_ctx_get_epoch(p, v) })
}

// Iter is runner.iter (completed iterations).
func (c *HookCtx) Iter() int64 {
	return c.getInt64(func(p *C.mmh_hook_ctx_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_hook_ctx_get_iter(p, v) })
}

// BatchIdx is the batch index in iteration stages, -1 elsewhere (the library says
// CodeNotFound there).
func (c *HookCtx) BatchIdx() int64 {
	return c.getInt64(func(p *C.mmh_hook_ctx_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_hook_ctx_get_batch_idx(p, v) })
}

// MaxEpochs is runner.max_epochs (0 without a train loop).
func (c *HookCtx) MaxEpochs() int64 {
	return c.getInt64(func(p *C.mmh_hook_ctx_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_hook_ctx_get_max_epochs(p, v) })
}

// MaxIters is runner.max_iters (0 without a train loop).
func (c *HookCtx) MaxIters() int64 {
	return c.getInt64(func(p *C.mmh_hook_ctx_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_hook_ctx_get_max_iters(p, v) })
}

// Scalar is the current value of a message-hub scalar ("train/loss"); found is false if the
// hub has no such scalar. A key holding a NUL byte is a CodeInvalidArgument error.
func (c *HookCtx) Scalar(key string) (value float64, found bool, err error) {
	k, err := cString(key, "Scalar: key")
	if err != nil {
		return 0, false, err
	}
	defer C.free(unsafe.Pointer(k))
	p := c.acquire()
	if p == nil {
		return 0, false, errCtxGone
	}
	defer c.mu.RUnlock()
	var v C.double
	found, err = takeFound(C.mmh_hook_ctx_get_scalar(p, k, &v), CodeNotFound)
	if !found {
		return 0, false, err
	}
	return float64(v), true, nil
}

// UpdateScalar appends a value to a message-hub scalar (logged like the built-in ones).
func (c *HookCtx) UpdateScalar(key string, value float64) error {
	k, err := cString(key, "UpdateScalar: key")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(k))
	p := c.acquire()
	if p == nil {
		return errCtxGone
	}
	defer c.mu.RUnlock()
	return takeError(C.mmh_hook_ctx_update_scalar(p, k, C.double(value)))
}

// Metric is one evaluation metric.
type Metric struct {
	Name  string
	Value float64
}

// Metrics are the evaluation's metrics (after_val_epoch / after_test_epoch; empty elsewhere).
func (c *HookCtx) Metrics() []Metric {
	p := c.acquire()
	if p == nil {
		return nil
	}
	defer c.mu.RUnlock()
	var count C.size_t
	if err := takeError(C.mmh_hook_ctx_get_metric_count(p, &count)); err != nil {
		return nil
	}
	n := int(count)
	out := make([]Metric, 0, n)
	for i := 0; i < n; i++ {
		var name *C.char
		var v C.double
		if takeError(C.mmh_hook_ctx_get_metric(p, C.size_t(i), &name, &v)) == nil && name != nil {
			out = append(out, Metric{Name: C.GoString(name), Value: float64(v)})
		}
	}
	return out
}

// ParamGroupCount is the number of optimizer parameter groups.
func (c *HookCtx) ParamGroupCount() int {
	p := c.acquire()
	if p == nil {
		return 0
	}
	defer c.mu.RUnlock()
	var n C.size_t
	if err := takeError(C.mmh_hook_ctx_get_param_group_count(p, &n)); err != nil {
		return 0
	}
	return int(n)
}

// Lr is the learning rate of a parameter group.
func (c *HookCtx) Lr(group int) (float64, error) {
	if group < 0 {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("Lr(group %d): negative group", group)}
	}
	p := c.acquire()
	if p == nil {
		return 0, errCtxGone
	}
	defer c.mu.RUnlock()
	var v C.double
	if err := takeError(C.mmh_hook_ctx_get_lr(p, C.size_t(group), &v)); err != nil {
		return 0, err
	}
	return float64(v), nil
}

// SetLr sets the learning rate of a parameter group.
func (c *HookCtx) SetLr(group int, lr float64) error {
	if group < 0 {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("SetLr(group %d): negative group", group)}
	}
	p := c.acquire()
	if p == nil {
		return errCtxGone
	}
	defer c.mu.RUnlock()
	return takeError(C.mmh_hook_ctx_set_lr(p, C.size_t(group), C.double(lr)))
}

// SetError sets the message of an Abort. A message holding a NUL byte is a
// CodeInvalidArgument error (the library would keep only the text before it).
func (c *HookCtx) SetError(message string) error {
	m, err := cString(message, "SetError: message")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(m))
	p := c.acquire()
	if p == nil {
		return errCtxGone
	}
	defer c.mu.RUnlock()
	return takeError(C.mmh_hook_ctx_set_error(p, m))
}

// ErrorMessage is the failure's message during on_exception; ok is false elsewhere.
func (c *HookCtx) ErrorMessage() (message string, ok bool) {
	p := c.acquire()
	if p == nil {
		return "", false
	}
	defer c.mu.RUnlock()
	var s *C.char
	if takeError(C.mmh_hook_ctx_get_error_message(p, &s)) != nil || s == nil {
		return "", false
	}
	return C.GoString(s), true
}

// CheckpointPut stores bytes under hook_states/<hook name>/<key> of the checkpoint being
// saved (before_save_checkpoint only; CodeFailedPrecondition elsewhere).
func (c *HookCtx) CheckpointPut(key string, data []byte) error {
	k, err := cString(key, "CheckpointPut: key")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(k))
	p := c.acquire()
	if p == nil {
		return errCtxGone
	}
	defer c.mu.RUnlock()
	var one [1]byte
	d := unsafe.Pointer(&one[0])
	if len(data) > 0 {
		d = unsafe.Pointer(&data[0])
	}
	return takeError(C.mmh_hook_ctx_put_checkpoint_state(p, k, d, C.size_t(len(data))))
}

// CheckpointGet reads bytes stored by CheckpointPut from the checkpoint being loaded
// (after_load_checkpoint only); found is false if the key is absent.
func (c *HookCtx) CheckpointGet(key string) (data []byte, found bool, err error) {
	k, err := cString(key, "CheckpointGet: key")
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(k))
	p := c.acquire()
	if p == nil {
		return nil, false, errCtxGone
	}
	defer c.mu.RUnlock()
	buf := make([]byte, 64)
	for {
		var n C.size_t
		found, err := takeFound(C.mmh_hook_ctx_get_checkpoint_state(p, k, unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &n), CodeNotFound)
		if !found {
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
// (after_train_iter), "outputs" (after_val_iter / after_test_iter), or another batch key;
// found is false if the call has no such tensor. A key holding a NUL byte is a
// CodeInvalidArgument error.
func (c *HookCtx) Tensor(key string) (view *TensorView, found bool, err error) {
	k, err := cString(key, "Tensor: key")
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(k))
	p := c.acquire()
	if p == nil {
		return nil, false, errCtxGone
	}
	defer c.mu.RUnlock()
	var t *C.mmh_tensor_t
	found, err = takeFound(C.mmh_hook_ctx_get_tensor(p, k, &t), CodeNotFound)
	if !found {
		return nil, false, err
	}
	if t == nil {
		return nil, false, nil
	}
	return &TensorView{ptr: t, ctx: c}, true, nil
}

// acquire returns the tensor with its ctx's read lock held (release with t.ctx.mu.RUnlock),
// or nil after the hook call.
func (t *TensorView) acquire() *C.mmh_tensor_t {
	if t == nil || t.ctx.acquire() == nil {
		return nil
	}
	return t.ptr
}

// Shape is the tensor's shape (nil after the hook call).
func (t *TensorView) Shape() []int64 {
	p := t.acquire()
	if p == nil {
		return nil
	}
	defer t.ctx.mu.RUnlock()
	return shapeOf(p)
}

// Numel is the number of elements (0 after the hook call).
func (t *TensorView) Numel() int {
	p := t.acquire()
	if p == nil {
		return 0
	}
	defer t.ctx.mu.RUnlock()
	return numelOf(p)
}

// Float64s copies the elements, row-major, converted to float64.
func (t *TensorView) Float64s() ([]float64, error) {
	p := t.acquire()
	if p == nil {
		return nil, errCtxGone
	}
	defer t.ctx.mu.RUnlock()
	return copyF64(p)
}

// Retain makes an owned handle to the same tensor, usable after the hook call.
func (t *TensorView) Retain() (*Tensor, error) {
	p := t.acquire()
	if p == nil {
		return nil, errCtxGone
	}
	defer t.ctx.mu.RUnlock()
	var out *C.mmh_tensor_t
	if err := takeError(C.mmh_tensor_retain(p, &out)); err != nil {
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
	return numelOf(t.ptr)
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

// numelOf is the number of elements of a live handle (0 for nil).
func numelOf(t *C.mmh_tensor_t) int {
	var n C.size_t
	if takeError(C.mmh_tensor_get_numel(t, &n)) != nil {
		return 0
	}
	return int(n)
}

func shapeOf(t *C.mmh_tensor_t) []int64 {
	var ndim C.size_t
	var p *C.int64_t
	if takeError(C.mmh_tensor_get_ndim(t, &ndim)) != nil || takeError(C.mmh_tensor_get_shape(t, &p)) != nil {
		return []int64{}
	}
	n := int(ndim)
	if n == 0 || p == nil {
		return []int64{}
	}
	out := make([]int64, n)
	copy(out, unsafe.Slice((*int64)(unsafe.Pointer(p)), n))
	return out
}

func copyF64(t *C.mmh_tensor_t) ([]float64, error) {
	n := numelOf(t)
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
// Goroutine identity

// goid is the current goroutine's id. Go has no public goroutine identity; the header line of
// runtime.Stack ("goroutine 18 [running]:") is the one stable source. Close uses it to tell a
// call from inside a run (which must not wait for that run) from a call on another goroutine.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		panic("mmhook: cannot read the goroutine id from runtime.Stack: " + string(buf[:]))
	}
	return id
}

// stackEntry records that a goroutine is part of a call into the library: the goroutine that
// called Train/Val/Test (its hooks run on it too), or one running a log handler.
type stackEntry struct {
	core   *runCore // the runner whose call it is part of; nil for a log handler
	parent int64    // the goroutine that waits for this one (0 for none)
}

// callStacks maps goroutine ids to their entries. Together the parent links form the logical
// call stack of a goroutine across the log-handler goroutines.
var callStacks = struct {
	sync.Mutex
	m map[int64][]stackEntry
}{m: map[int64][]stackEntry{}}

func pushStack(g int64, e stackEntry) {
	callStacks.Lock()
	callStacks.m[g] = append(callStacks.m[g], e)
	callStacks.Unlock()
}

func popStack(g int64, core *runCore) {
	callStacks.Lock()
	defer callStacks.Unlock()
	es := callStacks.m[g]
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].core == core {
			es = append(es[:i], es[i+1:]...)
			break
		}
	}
	if len(es) == 0 {
		delete(callStacks.m, g)
	} else {
		callStacks.m[g] = es
	}
}

// stackOf reports whether goroutine g is part of a call of core (waiting for it would never
// end) and whether g is part of a log handler call (waiting for anything may stall the
// library thread that logs).
func stackOf(g int64, core *runCore) (inCall, inLog bool) {
	callStacks.Lock()
	defer callStacks.Unlock()
	seen := map[int64]bool{}
	todo := []int64{g}
	for len(todo) > 0 {
		x := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if x == 0 || seen[x] {
			continue
		}
		seen[x] = true
		for _, e := range callStacks.m[x] {
			if e.core == nil {
				inLog = true
			} else if e.core == core {
				inCall = true
			}
			todo = append(todo, e.parent)
		}
	}
	return inCall, inLog
}

// ---------------------------------------------------------------------------------------------
// Trampolines

// panicBox holds the first panic of a hook in a call, re-raised once the library returned.
type panicBox struct {
	set   bool
	value interface{}
}

// runCore is what a Runner shares with its hooks' trampolines. It never points back at the
// Runner: the hooks' cgo handles would keep the Runner reachable and its finalizer would never
// run. Its fields are used by the goroutine that called Train/Val/Test only: the library runs
// the hooks on the calling thread, and the trampolines call the hook bodies right there.
type runCore struct {
	callerGoid int64 // the goroutine of the call in progress
	panics     panicBox
	goexitHook string // the hook whose runtime.Goexit unwound the call in progress ("" if none)
}

// hookEntry is what a registered hook's user data (a cgo.Handle) refers to.
type hookEntry struct {
	fn   HookFunc
	name string
	core *runCore
	// Set after fn panicked or called runtime.Goexit: the rest of that call skips it (the call
	// is failing anyway and the panic is re-raised), and later calls refuse to start.
	poisoned atomic.Bool
}

// callHook runs a hook body. ok is false after a panic, recovered here (value is what recover
// returned: nil for panic(nil)). After a runtime.Goexit it does not return at all: recover
// cannot stop a Goexit, which goes on unwinding the goroutine.
func callHook(e *hookEntry, hc *HookCtx) (action HookAction, ok bool, value interface{}) {
	defer func() {
		if !ok {
			value = recover()
		}
	}()
	action = e.fn(hc)
	ok = true
	return action, ok, value
}

func setCtxError(ctx *C.mmh_hook_ctx_t, message string) {
	m := C.CString(strings.ReplaceAll(message, "\x00", `\x00`))
	C.mmh_error_free(C.mmh_hook_ctx_set_error(ctx, m))
	C.free(unsafe.Pointer(m))
}

// liveHooks counts registered hooks whose user data has not been freed yet.
var liveHooks int64

// mmhgoHookCall calls the hook body directly on the goroutine that came from C: no goroutine
// switch, so a hook call costs about what the cgo callback costs. Its deferred function tells
// the three ways out of the body apart: a return, a panic (recovered by callHook: the hook call
// fails with an error naming the hook) and a runtime.Goexit (t.FailNow, t.Fatal), which nothing
// can stop: it unwinds this goroutine through the library's frames, skipping their C++ cleanup.
// The deferred function then records the hook's name, and Runner.run, which the Goexit
// unwinds next, marks the runner broken (see abandon).
//
//export mmhgoHookCall
func mmhgoHookCall(ctx *C.mmh_hook_ctx_t, h C.uintptr_t) (action C.mmh_hook_action_t) {
	action = C.MMH_HOOK_ABORT
	var hc *HookCtx
	var inBody *hookEntry // set while the body runs: still set when the deferred function runs means Goexit
	defer func() {
		if hc != nil {
			hc.end() // the ctx dies with the call
		}
		if e := inBody; e != nil {
			e.poisoned.Store(true)
			if e.core.goexitHook == "" {
				e.core.goexitHook = e.name
			}
		}
		if v := recover(); v != nil { // nothing may unwind into C
			setCtxError(ctx, fmt.Sprintf("internal error in the Go hook trampoline: %v", v))
			action = C.MMH_HOOK_ABORT
		}
	}()
	e := cgo.Handle(h).Value().(*hookEntry)
	if e.poisoned.Load() {
		return C.MMH_HOOK_CONTINUE
	}
	hc = &HookCtx{ptr: ctx}
	inBody = e
	act, ok, v := callHook(e, hc)
	inBody = nil
	if !ok {
		e.poisoned.Store(true)
		core := e.core
		if !core.panics.set {
			core.panics = panicBox{set: true, value: v}
		}
		setCtxError(ctx, fmt.Sprintf("panic in Go hook '%s': %v", e.name, v))
		return C.MMH_HOOK_ABORT
	}
	return C.mmh_hook_action_t(act)
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
	defer func() { _ = recover() }() // nothing may unwind into C
	f := cgo.Handle(h).Value().(logHandler)
	msg := C.GoString(message)
	// Unlike a hook body, the handler runs on a goroutine of its own, so that a runtime.Goexit
	// in it cannot unwind through the library's frames. Those frames have cleanup of their own
	// (the reference that keeps the handler alive, the per-thread mark that keeps records of
	// the handler's own calls from coming back to it), the handler is called from any thread,
	// some not started by Go, and often on behalf of no runner that could be marked broken. A
	// log record is rare next to a hook call, so the goroutine switch costs little here.
	parent := goid()
	done := make(chan struct{})
	go func() {
		g := goid()
		pushStack(g, stackEntry{parent: parent})
		defer func() {
			_ = recover() // a panic in a handler is swallowed
			popStack(g, nil)
			close(done)
		}()
		f(int32(level), msg)
	}()
	<-done
}

//export mmhgoLogFree
func mmhgoLogFree(h C.uintptr_t) {
	defer func() { _ = recover() }()
	cgo.Handle(h).Delete()
}

// SetLogHandler routes the engine's log records (level 10 debug, 20 info, 30 warning,
// 40 error; message without the time/level prefix) to f, or stops routing when f is nil.
// Process-wide; f may be called from several goroutines at once, on behalf of any runner. A
// panic or runtime.Goexit inside f is swallowed. f may call into this package (see the
// package documentation for what waits).
func SetLogHandler(f func(level int32, message string)) {
	_ = TrySetLogHandler(f)
}

// TrySetLogHandler is SetLogHandler reporting a failure (CodeOOM: the previous handler stays,
// f is released).
func TrySetLogHandler(f func(level int32, message string)) error {
	if f == nil {
		return takeError(C.mmhgo_log_set(0))
	}
	// On failure the library has released the handle (mmhgoLogFree).
	return takeError(C.mmhgo_log_set(C.uintptr_t(cgo.NewHandle(logHandler(f)))))
}

// ---------------------------------------------------------------------------------------------
// Runner

// Runner is a training runner built from a JSON config (MMEngine's config keys). It is safe
// for use from several goroutines: its calls run one at a time (see the package documentation
// for which wait and which fail). Close frees it (a finalizer does too, if Close is forgotten).
type Runner struct {
	// The state lives apart: its sync.Cond points back at its mutex, and a finalizer never
	// runs for an object that is part of a reference cycle.
	*runnerState
}

type runnerState struct {
	mu      sync.Mutex
	idle    *sync.Cond      // broadcast when a call ends
	ptr     *C.mmh_runner_t // nil once the library runner is being destroyed
	busy    bool            // a call holds ptr
	running bool            // that call is Train, Val or Test
	closing bool            // Close was called: no new calls
	// Set when a hook's runtime.Goexit unwound a call through the library (see abandon): every
	// later call returns it.
	broken *Error
	// closed once the library runner is destroyed (and every hook released), or abandoned
	destroyed chan struct{}
	core      *runCore
	hooks     map[string]*hookEntry // the registered hooks, checked before each run
}

// NewRunner creates a runner from a JSON config. It checks the library version first.
func NewRunner(configJSON string) (*Runner, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	cfg, err := cString(configJSON, "NewRunner: config JSON")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cfg))
	var p *C.mmh_runner_t
	if err := takeError(C.mmh_runner_create(cfg, &p)); err != nil {
		return nil, err
	}
	r := &Runner{&runnerState{ptr: p, destroyed: make(chan struct{}), core: &runCore{}, hooks: map[string]*hookEntry{}}}
	r.idle = sync.NewCond(&r.mu)
	runtime.SetFinalizer(r, (*Runner).Close)
	return r, nil
}

var (
	errClosed    = &Error{Code: CodeFailedPrecondition, Message: "the runner is closed"}
	errReentered = &Error{Code: CodeFailedPrecondition,
		Message: "the runner is already running (Train/Val/Test called from inside its own call)"}
	errRunning = &Error{Code: CodeFailedPrecondition,
		Message: "the runner is already running (calls on one runner must not overlap)"}
	errBusyForLog = &Error{Code: CodeFailedPrecondition,
		Message: "the runner is busy on another goroutine, and a log handler must not wait for it"}
)

// enter claims the runner for one call. owned is false for a call made from inside the running
// call itself (a hook, or a log handler on its thread): the running call keeps the handle alive
// and releases it; such a call must not wait for it. Release an owned call with leave.
func (r *Runner) enter(run bool) (p *C.mmh_runner_t, owned bool, err error) {
	if r == nil || r.runnerState == nil { // not made by NewRunner
		return nil, false, errClosed
	}
	g := int64(0)
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.broken != nil {
			return nil, false, r.broken
		}
		if r.ptr == nil || r.closing {
			return nil, false, errClosed
		}
		if !r.busy {
			r.busy, r.running = true, run
			return r.ptr, true, nil
		}
		if g == 0 {
			g = goid()
		}
		inCall, inLog := stackOf(g, r.core)
		switch {
		case r.running && inCall && run:
			return nil, false, errReentered
		case r.running && inCall:
			return r.ptr, false, nil
		case inLog:
			return nil, false, errBusyForLog
		case run && r.running:
			return nil, false, errRunning
		}
		r.idle.Wait()
	}
}

// leave ends an owned call; it carries out a Close requested meanwhile.
func (r *Runner) leave() {
	r.mu.Lock()
	r.busy, r.running = false, false
	var p *C.mmh_runner_t
	if r.closing && r.ptr != nil {
		p, r.ptr = r.ptr, nil
	}
	r.idle.Broadcast()
	r.mu.Unlock()
	if p != nil {
		r.destroy(p)
	}
}

// destroy runs without r.mu: the library frees the hooks and may log, and a log handler may
// call r.
func (r *Runner) destroy(p *C.mmh_runner_t) {
	C.mmh_runner_destroy(p)
	close(r.destroyed)
}

// Close destroys the runner and releases every hook; idempotent, and safe from any goroutine.
// During a Train/Val/Test on another goroutine it asks that call to stop (as RequestStop), waits
// until it has returned, then destroys the runner. Called from inside that call (from one of
// the runner's hooks, or a log handler), it does not wait: the runner is destroyed as soon as
// the call returns, and every later call returns an error.
func (r *Runner) Close() {
	if r == nil || r.runnerState == nil {
		return
	}
	r.mu.Lock()
	if !r.closing {
		r.closing = true
		if !r.busy {
			p := r.ptr
			r.ptr = nil
			r.mu.Unlock()
			if p != nil { // nil for a broken runner: abandoned, never destroyed (see abandon)
				r.destroy(p)
			}
			runtime.SetFinalizer(r, nil)
			return
		}
		if r.running {
			C.mmh_runner_request_stop(r.ptr) // ptr lives: the running call holds it
		}
	}
	select {
	case <-r.destroyed:
		r.mu.Unlock()
		return
	default:
	}
	// Waiting from inside the running call would never end; from a log handler it could stall
	// the thread that logs (the destroy itself may log).
	inCall, inLog := stackOf(goid(), r.core)
	wait := !(r.running && inCall) && !inLog
	r.mu.Unlock()
	if wait {
		<-r.destroyed
	}
	runtime.SetFinalizer(r, nil)
}

// AddHook adds fn, called at `stages` with `priority` (0..100, lower runs earlier), and returns
// the name the hook got: name, or, when a hook of this runner (a built-in one, one from the
// config, or one added before) already has it, the first free name_<n> (n = 1, 2, ...), as for
// two config entries of one type. Checkpoint state and RemoveHook use that name. fn is
// released when the hook is removed, when the runner is closed, or now if adding fails.
func (r *Runner) AddHook(name string, priority int32, stages Stages, fn HookFunc) (string, error) {
	if fn == nil {
		return "", &Error{Code: CodeInvalidArgument, Message: "AddHook: hook " + strconv.Quote(name) + ": fn is nil"}
	}
	n, err := cString(name, "AddHook: name")
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(n))
	p, owned, err := r.enter(false)
	if err != nil {
		return "", err
	}
	if owned {
		defer r.leave()
	}
	return r.addHook(p, name, n, priority, stages, fn)
}

// addHook registers with the library; the caller holds the runner (enter).
func (r *Runner) addHook(p *C.mmh_runner_t, name string, n *C.char, priority int32, stages Stages, fn HookFunc) (string, error) {
	e := &hookEntry{fn: fn, name: name, core: r.core}
	h := cgo.NewHandle(e)
	atomic.AddInt64(&liveHooks, 1)
	// A suffix is "_" and at most 10 digits: this always holds the name given.
	capacity := len(name) + 32
	buf := (*C.char)(C.malloc(C.size_t(capacity)))
	defer C.free(unsafe.Pointer(buf))
	var length C.size_t
	// From here the library owns the handle: it frees it (mmhgoHookFree) on failure too.
	err := takeError(C.mmhgo_add_hook(p, n, C.int32_t(priority), C.uint64_t(stages), C.uintptr_t(h), buf, C.size_t(capacity), &length))
	if err != nil {
		return "", err
	}
	if int(length) >= capacity {
		length = C.size_t(capacity - 1)
	}
	given := C.GoStringN(buf, C.int(length))
	e.name = given
	r.mu.Lock()
	r.hooks[given] = e
	r.mu.Unlock()
	return given, nil
}

// RegisterHook registers fn like AddHook, but refuses a taken name with CodeInvalidArgument
// (its behaviour since 0.1, kept).
//
// Deprecated: use AddHook, which follows the library's one rule for taken names (a _<n>
// suffix, as in configs) and returns the name given.
func (r *Runner) RegisterHook(name string, priority int32, stages Stages, fn HookFunc) error {
	if fn == nil {
		return &Error{Code: CodeInvalidArgument, Message: "RegisterHook: hook " + strconv.Quote(name) + ": fn is nil"}
	}
	n, err := cString(name, "RegisterHook: name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(n))
	p, owned, err := r.enter(false)
	if err != nil {
		return err
	}
	if owned {
		defer r.leave()
	}
	given, err := r.addHook(p, name, n, priority, stages, fn)
	if err != nil || given == name {
		return err
	}
	// The name was taken: take the suffixed hook out again (fn is released).
	if err := r.removeHook(p, given); err != nil {
		return err
	}
	return &Error{Code: CodeInvalidArgument, Message: "a hook named '" + name + "' is already registered"}
}

// RemoveHook removes the hook named `name` (CodeNotFound if absent).
func (r *Runner) RemoveHook(name string) error {
	n, err := cString(name, "RemoveHook: name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(n))
	p, owned, err := r.enter(false)
	if err != nil {
		return err
	}
	if owned {
		defer r.leave()
	}
	return r.removeHookC(p, n, name)
}

// removeHook removes a hook while the caller holds the runner (enter).
func (r *Runner) removeHook(p *C.mmh_runner_t, name string) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return r.removeHookC(p, n, name)
}

func (r *Runner) removeHookC(p *C.mmh_runner_t, n *C.char, name string) error {
	err := takeError(C.mmh_runner_remove_hook(p, n))
	if err == nil {
		r.mu.Lock()
		delete(r.hooks, name)
		r.mu.Unlock()
	}
	return err
}

// poisonedHook names a registered hook that panicked or exited in an earlier call ("" if none).
func (r *Runner) poisonedHook() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for name, e := range r.hooks {
		if e.poisoned.Load() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

func (r *Runner) run(f func(*C.mmh_runner_t) *C.mmh_error_t) error {
	p, _, err := r.enter(true)
	if err != nil {
		return err
	}
	if name := r.poisonedHook(); name != "" {
		r.leave()
		return &Error{Code: CodeFailedPrecondition, Message: "hook '" + name + "' panicked or called " +
			"runtime.Goexit in an earlier call, and its state may be broken: RemoveHook it (and " +
			"register it anew) before the next Train/Val/Test"}
	}
	core := r.core
	core.callerGoid = goid()
	pushStack(core.callerGoid, stackEntry{core: core})
	returned := false
	defer func() {
		// Only a runtime.Goexit in a hook gets here without the library having returned (hook
		// panics are recovered by the trampoline, and nothing else unwinds through C).
		if !returned {
			r.abandon()
		}
	}()
	err = takeError(f(p))
	returned = true
	popStack(core.callerGoid, core)
	box := core.panics
	core.panics = panicBox{}
	r.leave()
	runtime.KeepAlive(r)
	if box.set {
		// A hook panicked: the library has unwound its loops; continue the panic here.
		panic(box.value)
	}
	return err
}

// abandon is run's cleanup when a hook's runtime.Goexit (t.FailNow, t.Fatal) unwound the call
// through the library's frames. Go 1.19 lets a Goexit unwind a cgo callback: it skips the C and
// C++ frames without running their destructors and ends the goroutine. The library runner is
// left mid-call: its "running" guard stays set (it would answer "already running" forever),
// and locks or other state its skipped frames held are never released. So the runner is
// marked broken, every later call returns an error naming the hook, and the library runner is
// never touched again, not even by Close: destroying it could block on a lock that will never
// be released or free state that was mid-update. Its memory and its hooks (their cgo handles)
// are leaked on purpose; the process goes on.
func (r *Runner) abandon() {
	core := r.core
	popStack(core.callerGoid, core)
	name := core.goexitHook
	core.goexitHook, core.panics = "", panicBox{}
	msg := "hook '" + name + "' called runtime.Goexit (t.FailNow/t.Fatal); the runner cannot be used again: create a new one"
	if name == "" {
		msg = "a call was unwound through the library without returning; the runner cannot be used again: create a new one"
	}
	r.mu.Lock()
	r.broken = &Error{Code: CodeFailedPrecondition, Message: msg}
	r.busy, r.running = false, false
	r.ptr = nil
	close(r.destroyed) // a Close waiting for the call stops waiting
	r.idle.Broadcast()
	r.mu.Unlock()
}

// Train trains. A panic of a hook is re-raised here after the library returned. A
// runtime.Goexit in a hook (t.FailNow, t.Fatal) ends the calling goroutine (Train does not
// return) and breaks the runner for good: see the package documentation.
func (r *Runner) Train() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_train(p) })
}

// Val validates once; hook panics and Goexits as for Train.
func (r *Runner) Val() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_val(p) })
}

// Test tests once; hook panics and Goexits as for Train.
func (r *Runner) Test() error {
	return r.run(func(p *C.mmh_runner_t) *C.mmh_error_t { return C.mmh_runner_test(p) })
}

// RequestStop asks the running loop to stop after the current iteration. Safe from any
// goroutine (and from hooks and log handlers); it never waits; a no-op after Close.
func (r *Runner) RequestStop() {
	if r == nil || r.runnerState == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		C.mmh_runner_request_stop(r.ptr)
	}
}

// readBuffer reads a (buf, cap, len_out) getter, retrying with the full length when the
// buffer was too small; the library's error, or one when the runner is closed (or busy for a
// log handler).
func (r *Runner) readBuffer(get func(p *C.mmh_runner_t, buf *C.char, cap C.size_t, length *C.size_t) *C.mmh_error_t) (string, error) {
	p, owned, err := r.enter(false)
	if err != nil {
		return "", err
	}
	if owned {
		defer r.leave()
	}
	capacity := 256
	for {
		buf := (*C.char)(C.malloc(C.size_t(capacity)))
		var n C.size_t
		if err := takeError(get(p, buf, C.size_t(capacity), &n)); err != nil {
			C.free(unsafe.Pointer(buf))
			return "", err
		}
		if int(n) < capacity {
			s := C.GoStringN(buf, C.int(n))
			C.free(unsafe.Pointer(buf))
			return s, nil
		}
		C.free(unsafe.Pointer(buf))
		capacity = int(n) + 1
	}
}

// GetHooksInfo is MMEngine's get_hooks_info() text: per stage, the hooks with their
// priorities; an error if the runner is closed or the library could not produce it.
func (r *Runner) GetHooksInfo() (string, error) {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t, l *C.size_t) *C.mmh_error_t {
		return C.mmh_runner_get_hooks_info(p, b, c, l)
	})
}

// HooksInfo is GetHooksInfo with "" for any error (kept from 0.1; prefer GetHooksInfo).
func (r *Runner) HooksInfo() string {
	s, _ := r.GetHooksInfo()
	return s
}

// GetMetricsJSON is the metrics of the last val/test as a JSON object ("{}" before any); an
// error if the runner is closed or the library could not produce it.
func (r *Runner) GetMetricsJSON() (string, error) {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t, l *C.size_t) *C.mmh_error_t {
		return C.mmh_runner_get_metrics_json(p, b, c, l)
	})
}

// MetricsJSON is GetMetricsJSON with "" for any error (kept from 0.1; prefer GetMetricsJSON).
func (r *Runner) MetricsJSON() string {
	s, _ := r.GetMetricsJSON()
	return s
}

// Metrics is the metrics of the last val/test, in order.
func (r *Runner) Metrics() ([]Metric, error) {
	text, err := r.GetMetricsJSON()
	if err != nil {
		return nil, err
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

// GetHookTimingJSON is the hook timing table (hook, stage, calls, total_ms, max_ms,
// timed_calls) as a JSON array; an error if the runner is closed or the library could not
// produce it.
func (r *Runner) GetHookTimingJSON() (string, error) {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t, l *C.size_t) *C.mmh_error_t {
		return C.mmh_runner_get_hook_timing_json(p, b, c, l)
	})
}

// HookTimingJSON is GetHookTimingJSON with "" for any error (kept from 0.1; prefer
// GetHookTimingJSON).
func (r *Runner) HookTimingJSON() string {
	s, _ := r.GetHookTimingJSON()
	return s
}

// GetLastCheckpoint is the path of the newest checkpoint ("" if none was written); an error
// if the runner is closed or the library could not say.
func (r *Runner) GetLastCheckpoint() (string, error) {
	return r.readBuffer(func(p *C.mmh_runner_t, b *C.char, c C.size_t, l *C.size_t) *C.mmh_error_t {
		return C.mmh_runner_get_last_checkpoint(p, b, c, l)
	})
}

// LastCheckpoint is GetLastCheckpoint with "" for any error (kept from 0.1; prefer
// GetLastCheckpoint, which tells "none yet" from a failure).
func (r *Runner) LastCheckpoint() string {
	s, _ := r.GetLastCheckpoint()
	return s
}

func (r *Runner) counter(get func(p *C.mmh_runner_t, v *C.int64_t) *C.mmh_error_t) (int64, error) {
	p, owned, err := r.enter(false)
	if err != nil {
		return 0, err
	}
	if owned {
		defer r.leave()
	}
	var v C.int64_t
	if err := takeError(get(p, &v)); err != nil {
		return 0, err
	}
	return int64(v), nil
}

// GetEpoch is the number of completed epochs; an error if the runner is closed.
func (r *Runner) GetEpoch() (int64, error) {
	return r.counter(func(p *C.mmh_runner_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_runner_get_epoch(p, v) })
}

// Epoch is GetEpoch with 0 for an error (after Close).
func (r *Runner) Epoch() int64 {
	v, _ := r.GetEpoch()
	return v
}

// GetIter is the number of completed iterations; an error if the runner is closed.
func (r *Runner) GetIter() (int64, error) {
	return r.counter(func(p *C.mmh_runner_t, v *C.int64_t) *C.mmh_error_t { return C.mmh_runner_get_iter(p, v) })
}

// Iter is GetIter with 0 for an error (after Close).
func (r *Runner) Iter() int64 {
	v, _ := r.GetIter()
	return v
}
