package mmhook

// Running the model from a hook (mmh_hook_ctx_forward) on tensors made from Go slices
// (mmh_tensor_from_host): sampling from a language model at the end of an epoch, drawing
// reconstructions, probing a layer.

/*
#include <stdint.h>
#include <stdlib.h>
#include <mmhook.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sort"
	"unsafe"
)

// firstElem is the address of d's first element, or nil for an empty slice.
func firstElem[T any](d []T) unsafe.Pointer {
	if len(d) == 0 {
		return nil
	}
	return unsafe.Pointer(&d[0])
}

// NewTensor makes an owned tensor of the given shape holding a copy of data, which is a
// []uint8, []int32, []int64, []float32 or []float64 (row-major; its length must be the product
// of shape, an empty shape meaning one scalar). Another slice type, a negative size or a length
// that does not match is a CodeInvalidArgument error. Close the tensor when done (a finalizer
// frees it otherwise).
func NewTensor(data interface{}, shape []int64) (*Tensor, error) {
	var (
		dtype C.mmh_dtype_t
		ptr   unsafe.Pointer
		n     int
		size  int
	)
	switch d := data.(type) {
	case []uint8:
		dtype, n, size, ptr = C.MMH_DTYPE_U8, len(d), 1, firstElem(d)
	case []int32:
		dtype, n, size, ptr = C.MMH_DTYPE_I32, len(d), 4, firstElem(d)
	case []int64:
		dtype, n, size, ptr = C.MMH_DTYPE_I64, len(d), 8, firstElem(d)
	case []float32:
		dtype, n, size, ptr = C.MMH_DTYPE_F32, len(d), 4, firstElem(d)
	case []float64:
		dtype, n, size, ptr = C.MMH_DTYPE_F64, len(d), 8, firstElem(d)
	default:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(
			"NewTensor: data is a %T (want []uint8, []int32, []int64, []float32 or []float64)", data)}
	}
	var cshape *C.int64_t
	if len(shape) > 0 {
		cshape = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	var out *C.mmh_tensor_t
	err := takeError(C.mmh_tensor_from_host(dtype, cshape, C.size_t(len(shape)), ptr,
		C.size_t(n*size), &out))
	runtime.KeepAlive(data)
	runtime.KeepAlive(shape)
	if err != nil {
		return nil, err
	}
	owned := &Tensor{ptr: out}
	runtime.SetFinalizer(owned, (*Tensor).Close)
	return owned, nil
}

// Forward runs the model on the named inputs and returns its output `output` as an owned
// tensor (Close it when done). mode is "predict" (the outputs val/test loops get) or "tensor"
// (the raw outputs of a TorchScript model with the dict contract). The model runs without
// gradients in eval mode and gets its training flag back after, so any stage may call this,
// e.g. AfterTrainEpoch to print a sample. Errors: CodeInvalidArgument (a bad mode, a NUL byte,
// a closed input), CodeNotFound (no such output; the message lists those there are),
// CodeFailedPrecondition (mode "tensor" on a model without it, or the ctx used after its call)
// and the model's own errors (CodeTorch), each naming the stage and mode.
func (c *HookCtx) Forward(mode string, inputs map[string]*Tensor, output string) (*Tensor, error) {
	cmode, err := cString(mode, "Forward: mode")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cmode))
	cout, err := cString(output, "Forward: output")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cout))

	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names) // a fixed order: the batch's keys are the model's to read by name
	n := len(names)
	// C memory for the pointer arrays: cgo forbids passing Go memory that holds Go pointers.
	var keys **C.char
	var tensors **C.mmh_tensor_t
	if n > 0 {
		keys = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0)))))
		tensors = (**C.mmh_tensor_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0)))))
		if keys == nil || tensors == nil {
			C.free(unsafe.Pointer(keys))
			C.free(unsafe.Pointer(tensors))
			return nil, &Error{Code: CodeOOM, Message: "Forward: out of memory"}
		}
	}
	keySlice := unsafe.Slice(keys, n)
	tensorSlice := unsafe.Slice(tensors, n)
	defer func() {
		for _, k := range keySlice {
			C.free(unsafe.Pointer(k))
		}
		C.free(unsafe.Pointer(keys))
		C.free(unsafe.Pointer(tensors))
	}()
	locked := make(map[*Tensor]bool, n)
	for i, name := range names {
		k, err := cString(name, "Forward: input key")
		if err != nil {
			return nil, err
		}
		keySlice[i] = k
		t := inputs[name]
		if t == nil {
			return nil, &Error{Code: CodeInvalidArgument, Message: "Forward: input '" + name + "' is nil"}
		}
		if !locked[t] { // one tensor may feed several keys
			t.mu.Lock()
			defer t.mu.Unlock() // held until the call returns: no Close in between
			locked[t] = true
		}
		if t.ptr == nil {
			return nil, &Error{Code: CodeInvalidArgument, Message: "Forward: input '" + name + "' is closed"}
		}
		tensorSlice[i] = t.ptr
	}

	p := c.acquire()
	if p == nil {
		return nil, errCtxGone
	}
	defer c.mu.RUnlock()
	var out *C.mmh_tensor_t
	if err := takeError(C.mmh_hook_ctx_forward(p, cmode, keys, tensors, C.size_t(n), cout, &out)); err != nil {
		return nil, err
	}
	owned := &Tensor{ptr: out}
	runtime.SetFinalizer(owned, (*Tensor).Close)
	return owned, nil
}
