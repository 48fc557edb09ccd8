package mmhook

import (
	"math"
	"strings"
	"testing"
)

func TestHookRunsTheModelOnItsOwnInputs(t *testing.T) {
	r := toyRunner(t, "forward", 2, "")
	defer r.Close()
	var seen []float64
	_, err := r.AddHook("sampler", PriorityNormal, StageAfterTrainEpoch.Bit(), func(ctx *HookCtx) HookAction {
		// No t.Fatal in a hook: it would end the goroutine inside the library's call.
		x, err := NewTensor([]float32{0.25, 0.75}, []int64{1, 2})
		if err != nil {
			t.Errorf("NewTensor: %v", err)
			return Abort
		}
		defer x.Close()
		y, err := ctx.Forward("predict", map[string]*Tensor{"inputs": x}, "outputs")
		if err != nil {
			t.Errorf("Forward: %v", err)
			return Abort
		}
		defer y.Close()
		if got := y.Shape(); len(got) != 2 || got[0] != 1 || got[1] != 1 {
			t.Errorf("shape %v, want [1 1]", got)
		}
		v, err := y.Float64s()
		if err != nil || len(v) != 1 {
			t.Errorf("Float64s: %v, %v", v, err)
			return Abort
		}
		seen = append(seen, v[0])

		if _, err := ctx.Forward("tensor", map[string]*Tensor{"inputs": x}, "outputs"); !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "ToyModel") {
			t.Errorf("tensor mode on ToyModel: %v", err)
		}
		if _, err := ctx.Forward("predict", map[string]*Tensor{"inputs": x}, "logits"); !IsCode(err, CodeNotFound) || !strings.Contains(err.Error(), "the model gave 'outputs'") {
			t.Errorf("missing output: %v", err)
		}
		if _, err := ctx.Forward("predict", map[string]*Tensor{"inputs": nil}, "outputs"); !IsCode(err, CodeInvalidArgument) {
			t.Errorf("nil input: %v", err)
		}
		wide, err := NewTensor([]float32{1, 2, 3}, []int64{1, 3})
		if err != nil {
			t.Errorf("NewTensor: %v", err)
			return Abort
		}
		if _, err := ctx.Forward("predict", map[string]*Tensor{"inputs": wide}, "outputs"); !IsCode(err, CodeTorch) || !strings.Contains(err.Error(), "at after_train_epoch, mode 'predict'") {
			t.Errorf("wrong shape: %v", err)
		}
		wide.Close()
		if _, err := ctx.Forward("predict", map[string]*Tensor{"inputs": wide}, "outputs"); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "closed") {
			t.Errorf("closed input: %v", err)
		}
		// One tensor under two keys: no self-deadlock; the extra key is the model's to ignore.
		if z, err := ctx.Forward("predict", map[string]*Tensor{"inputs": x, "extra": x}, "outputs"); err != nil {
			t.Errorf("shared input: %v", err)
		} else {
			z.Close()
		}
		return Continue
	})
	mustOK(t, err)
	mustOK(t, r.Train())
	if len(seen) != 2 || math.IsNaN(seen[0]) || seen[0] == seen[1] {
		t.Errorf("predictions %v: want two finite, different values (training goes on between)", seen)
	}
}

func TestNewTensorChecksTypeAndLength(t *testing.T) {
	x, err := NewTensor([]int64{1, 2, 3, 4, 5, 6}, []int64{2, 3})
	mustOK(t, err)
	v, err := x.Float64s()
	mustOK(t, err)
	if len(v) != 6 || v[5] != 6 {
		t.Errorf("values %v", v)
	}
	x.Close()
	if _, err := NewTensor([]uint8{1, 2, 3}, []int64{2, 2}); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "nbytes is 3 but the shape and dtype need 4") {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := NewTensor([]string{"a"}, []int64{1}); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "[]string") {
		t.Errorf("bad type: %v", err)
	}
	if _, err := NewTensor([]float64{1}, []int64{-1}); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "shape[0] is -1") {
		t.Errorf("negative size: %v", err)
	}
	s, err := NewTensor([]float64{2.5}, nil)
	mustOK(t, err)
	if len(s.Shape()) != 0 || s.Numel() != 1 {
		t.Errorf("scalar: shape %v numel %d", s.Shape(), s.Numel())
	}
	s.Close()
}
