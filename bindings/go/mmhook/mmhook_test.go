package mmhook

// End-to-end tests on the toy runner (docs/design.md §A8: 12 samples, batch 3, so 4 iterations per
// epoch; ToyMetric gives acc 1.0). Work dirs go under MMHOOK_TEST_WORK_DIR (set by CTest to a
// folder of the build tree), else under a temporary directory.
//
// Hooks report failures with t.Errorf and return: a t.Fatal (runtime.Goexit) in a hook ends
// the test's goroutine from inside the library and breaks the runner for good.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func workDir(t *testing.T, sub string) string {
	root := os.Getenv("MMHOOK_TEST_WORK_DIR")
	if root == "" {
		root = t.TempDir()
	}
	dir := filepath.Join(root, "go", sub)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// toyConfig is the toy config of tests/capi/test_capi.c, with `extra` appended to the
// top-level object.
func toyConfig(dir string, maxEpochs int, extra string) string {
	wd, _ := json.Marshal(dir)
	loader := `{"batch_size": 3, "num_workers": 0, "sampler": {"type": "DefaultSampler", "shuffle": false}, "dataset": {"type": "ToyDataset"}}`
	return fmt.Sprintf(`{"work_dir": %s, "model": {"type": "ToyModel"},
  "train_dataloader": %s, "val_dataloader": %s, "test_dataloader": %s,
  "val_evaluator": {"type": "ToyMetric"}, "test_evaluator": {"type": "ToyMetric"},
  "train_cfg": {"by_epoch": true, "max_epochs": %d, "val_interval": 1},
  "val_cfg": {}, "test_cfg": {},
  "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
  "randomness": {"seed": 0}, "log_level": "WARNING"%s}`, wd, loader, loader, loader, maxEpochs, extra)
}

func toyRunner(t *testing.T, sub string, maxEpochs int, extra string) *Runner {
	r, err := NewRunner(toyConfig(workDir(t, sub), maxEpochs, extra))
	if err != nil {
		t.Fatalf("toy runner: %v", err)
	}
	return r
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestVersionCheck(t *testing.T) {
	mustOK(t, CheckVersion())
	if err := checkVersionOf(BindingVersionMajor+1, BindingVersionMinor, 0); !IsCode(err, CodeABI) {
		t.Errorf("other major accepted: %v", err)
	}
	if BindingVersionMinor > 0 {
		if err := checkVersionOf(BindingVersionMajor, BindingVersionMinor-1, 9); !IsCode(err, CodeABI) {
			t.Errorf("older minor accepted: %v", err)
		}
	}
	if err := checkVersionOf(BindingVersionMajor, BindingVersionMinor+1, 0); err != nil {
		t.Errorf("newer minor refused: %v", err)
	}
	if StageAfterTrainIter.String() != "after_train_iter" || StageOnException.String() != "on_exception" {
		t.Errorf("stage names: %q %q", StageAfterTrainIter, StageOnException)
	}
	if StagesAll != (1<<23)-1 || !StagesOf(StageBeforeRun, StageOnException).Has(StageOnException) {
		t.Error("stage sets")
	}
}

type iterRecord struct {
	iter, batchIdx int64
	loss           float64
}

func TestTrainRunsHooksWithCountersLossTensorsLrAndMetrics(t *testing.T) {
	r := toyRunner(t, "train", 2, "")
	defer r.Close()
	var seen []iterRecord
	probes := 0
	var valMetrics []Metric
	var savedCtx *HookCtx
	var savedTensor *TensorView
	var kept *Tensor
	err := r.RegisterHook("counter", PriorityNormal,
		StagesOf(StageBeforeTrainIter, StageAfterTrainIter, StageAfterValEpoch), func(c *HookCtx) HookAction {
			savedCtx = c
			switch c.Stage() {
			case StageAfterTrainIter:
				loss, ok, err := c.Scalar("train/loss")
				if !ok || err != nil {
					t.Errorf("no train/loss at iter %d", c.Iter())
				}
				seen = append(seen, iterRecord{c.Iter(), c.BatchIdx(), loss})
				if c.MaxEpochs() != 2 || c.MaxIters() != 8 {
					t.Errorf("max epochs/iters %d %d", c.MaxEpochs(), c.MaxIters())
				}
				if c.BatchIdx() == 1 && c.Epoch() == 0 {
					lossT, ok, err := c.Tensor("loss")
					if !ok || err != nil || lossT.Numel() != 1 {
						t.Errorf("loss tensor")
					}
					if lr, err := c.Lr(0); err != nil || lr != 0.05 {
						t.Errorf("lr after set: %v %v", lr, err)
					}
					if err := c.UpdateScalar("train/custom", 3.5); err != nil {
						t.Error(err)
					}
					if v, ok, err := c.Scalar("train/custom"); !ok || err != nil || v != 3.5 {
						t.Errorf("custom scalar %v %v %v", v, ok, err)
					}
					probes++
				}
			case StageBeforeTrainIter:
				if c.BatchIdx() == 1 && c.Epoch() == 0 {
					in, ok, err := c.Tensor("inputs")
					if !ok || err != nil {
						t.Errorf("no inputs")
						return Continue
					}
					savedTensor = in
					if s := in.Shape(); len(s) != 2 || s[0] != 3 || s[1] != 2 {
						t.Errorf("inputs shape %v", s)
					}
					v, err := in.Float64s()
					// batch 1 holds samples 3, 4, 5: inputs [i/12, 1 - i/12]
					if err != nil || !near(v[0], 0.25) || !near(v[1], 0.75) {
						t.Errorf("inputs %v %v", v, err)
					}
					kept, err = in.Retain()
					if err != nil {
						t.Error(err)
					}
					if _, ok, err := c.Tensor("nope"); ok || err != nil {
						t.Error("a missing tensor was found")
					}
					if c.ParamGroupCount() != 1 {
						t.Errorf("param groups %d", c.ParamGroupCount())
					}
					if lr, err := c.Lr(0); err != nil || lr != 0.1 {
						t.Errorf("lr %v %v", lr, err)
					}
					if _, err := c.Lr(7); !IsCode(err, CodeInvalidArgument) {
						t.Errorf("lr(7): %v", err)
					}
					if err := c.SetLr(0, 0.05); err != nil {
						t.Error(err)
					}
					probes++
				}
			case StageAfterValEpoch:
				valMetrics = c.Metrics()
			}
			return Continue
		})
	mustOK(t, err)
	mustOK(t, r.Train())
	if len(seen) != 8 {
		t.Fatalf("2 epochs x 4 iterations, got %d", len(seen))
	}
	for i, s := range seen {
		if s.iter != int64(i) || s.batchIdx != int64(i%4) || math.IsNaN(s.loss) || math.IsInf(s.loss, 0) {
			t.Errorf("record %d: %+v", i, s)
		}
	}
	if probes != 2 {
		t.Errorf("probes %d", probes)
	}
	if len(valMetrics) != 1 || valMetrics[0] != (Metric{"acc", 1.0}) {
		t.Errorf("val metrics %v", valMetrics)
	}
	if r.Epoch() != 2 || r.Iter() != 8 {
		t.Errorf("epoch %d iter %d", r.Epoch(), r.Iter())
	}
	m, err := r.Metrics()
	if err != nil || len(m) != 1 || m[0] != (Metric{"acc", 1.0}) {
		t.Errorf("runner metrics %v %v", m, err)
	}
	if ck := r.LastCheckpoint(); !strings.HasSuffix(ck, "epoch_2.pth") {
		t.Errorf("last checkpoint %q", ck)
	}
	if !strings.Contains(r.HookTimingJSON(), `"counter"`) {
		t.Error("timing table lacks the hook")
	}
	// The ctx and its borrowed tensors are dead after the call; the retained tensor lives.
	if savedCtx.Valid() || savedCtx.Stage() != -1 {
		t.Error("ctx usable after its call")
	}
	if _, ok, err := savedCtx.Scalar("train/loss"); ok || !IsCode(err, CodeFailedPrecondition) {
		t.Error("scalar read through a dead ctx")
	}
	if savedTensor.Shape() != nil {
		t.Error("borrowed tensor usable after the call")
	}
	if kept == nil || kept.Numel() != 6 {
		t.Fatal("retained tensor")
	}
	v, err := kept.Float64s()
	if err != nil || !near(v[0], 0.25) {
		t.Errorf("retained tensor values %v %v", v, err)
	}
	kept.Close()
	kept.Close() // idempotent
}

func TestHookStopEndsTrainingAtTheEpochBoundary(t *testing.T) {
	r := toyRunner(t, "stop", 5, "")
	defer r.Close()
	afterTrain := 0
	mustOK(t, r.RegisterHook("stopper", PriorityNormal, StagesOf(StageAfterTrainEpoch, StageAfterTrain),
		func(c *HookCtx) HookAction {
			if c.Stage() == StageAfterTrain {
				afterTrain++
				return Continue
			}
			if c.Epoch() == 0 {
				return Stop
			}
			return Continue
		}))
	mustOK(t, r.Train())
	if r.Epoch() != 1 || r.Iter() != 4 || afterTrain != 1 {
		t.Errorf("epoch %d iter %d after_train %d", r.Epoch(), r.Iter(), afterTrain)
	}
}

func TestHookAbortFailsTheRunNamingHookStageAndMessage(t *testing.T) {
	r := toyRunner(t, "abort", 2, "")
	defer r.Close()
	onException := ""
	mustOK(t, r.RegisterHook("guard", PriorityNormal, StagesOf(StageAfterTrainIter, StageOnException),
		func(c *HookCtx) HookAction {
			if c.Stage() == StageOnException {
				onException, _ = c.ErrorMessage()
				return Continue
			}
			if _, ok := c.ErrorMessage(); ok {
				t.Error("error message outside on_exception")
			}
			if c.Iter() == 2 {
				if err := c.SetError("loss looked wrong"); err != nil {
					t.Error(err)
				}
				return Abort
			}
			return Continue
		}))
	err := r.Train()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("expected *Error, got %T %v", err, err)
	}
	if int32(e.Code) != 6 { // MMH_E_HOOK_ABORTED
		t.Errorf("code %d", e.Code)
	}
	for _, want := range []string{"guard", "after_train_iter", "loss looked wrong"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q lacks %q", e.Message, want)
		}
	}
	if !strings.Contains(onException, "loss looked wrong") {
		t.Errorf("on_exception saw %q", onException)
	}
	if r.Iter() != 2 {
		t.Errorf("iter %d", r.Iter())
	}
	if !strings.Contains(err.Error(), "hook aborted") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestPanicInHookAbortsTheRunAndIsReraisedAfterTrainReturns(t *testing.T) {
	r := toyRunner(t, "panic", 2, "")
	defer r.Close()
	calls, afterRun := 0, 0
	exceptionText := ""
	mustOK(t, r.RegisterHook("panicky", PriorityNormal, StagesOf(StageAfterTrainIter, StageOnException),
		func(c *HookCtx) HookAction {
			calls++
			if c.Iter() == 1 {
				panic(fmt.Sprintf("boom at iter %d", c.Iter()))
			}
			return Continue
		}))
	mustOK(t, r.RegisterHook("observer", PriorityLow, StagesOf(StageOnException, StageAfterRun),
		func(c *HookCtx) HookAction {
			if c.Stage() == StageOnException {
				exceptionText, _ = c.ErrorMessage()
			} else {
				afterRun++
			}
			return Continue
		}))
	var recovered interface{}
	var trainErr error
	func() {
		defer func() { recovered = recover() }()
		trainErr = r.Train()
	}()
	if recovered != "boom at iter 1" {
		t.Fatalf("recovered %#v (train returned %v)", recovered, trainErr)
	}
	// The library unwound cleanly: on_exception and after_run ran, with the panic's text.
	if !strings.Contains(exceptionText, "panic in Go hook 'panicky'") || !strings.Contains(exceptionText, "boom at iter 1") {
		t.Errorf("on_exception saw %q", exceptionText)
	}
	if afterRun != 1 {
		t.Errorf("after_run %d", afterRun)
	}
	if calls != 2 {
		t.Errorf("the panicked hook was called again: %d calls", calls)
	}
	mustOK(t, r.RemoveHook("panicky"))
	mustOK(t, r.Val()) // no panic pending any more
}

func TestRequestStopFromAnotherGoroutine(t *testing.T) {
	r := toyRunner(t, "reqstop", 50, "")
	toStopper := make(chan int64)
	ack := make(chan struct{})
	go func() {
		<-toStopper
		r.RequestStop()
		close(ack)
	}()
	mustOK(t, r.RegisterHook("signaller", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		if c.Iter() == 3 {
			toStopper <- c.Iter()
			<-ack // the other goroutine has asked for the stop: deterministic
		}
		return Continue
	}))
	mustOK(t, r.Train())
	if r.Iter() != 4 {
		t.Errorf("stopped at iter %d, want 4", r.Iter())
	}
	r.Close()
	r.RequestStop() // a no-op after Close
	r.Close()       // idempotent
	if err := r.Train(); !IsCode(err, CodeFailedPrecondition) {
		t.Errorf("train after close: %v", err)
	}
}

func stateHook(t *testing.T, restored *int64, checks *int) HookFunc {
	return func(c *HookCtx) HookAction {
		switch c.Stage() {
		case StageBeforeSaveCheckpoint:
			b := make([]byte, 8)
			binary.LittleEndian.PutUint64(b, uint64(1000+c.Iter()))
			if err := c.CheckpointPut("counter", b); err != nil {
				t.Error(err)
			}
		case StageAfterLoadCheckpoint:
			b, found, err := c.CheckpointGet("counter")
			if err != nil || !found || len(b) != 8 {
				t.Errorf("get counter: %v %v %v", b, found, err)
				return Continue
			}
			*restored = int64(binary.LittleEndian.Uint64(b))
			if _, found, err := c.CheckpointGet("absent"); found || err != nil {
				t.Errorf("absent key: %v %v", found, err)
			}
			*checks++
		case StageAfterTrainIter:
			if c.Iter() == 0 {
				if err := c.CheckpointPut("counter", []byte("x")); !IsCode(err, CodeFailedPrecondition) {
					t.Errorf("put outside before_save_checkpoint: %v", err)
				}
				*checks++
			}
		}
		return Continue
	}
}

func TestCheckpointPutAndGetSurviveResume(t *testing.T) {
	var restored int64
	checks := 0
	stages := StagesOf(StageBeforeSaveCheckpoint, StageAfterLoadCheckpoint, StageAfterTrainIter)
	dir := workDir(t, "state")
	r, err := NewRunner(toyConfig(dir, 2, ""))
	mustOK(t, err)
	mustOK(t, r.RegisterHook("stateful", PriorityNormal, stages, stateHook(t, &restored, &checks)))
	mustOK(t, r.Train())
	r.Close()
	if restored != 0 {
		t.Errorf("restored %d before resume", restored)
	}
	r, err = NewRunner(toyConfig(dir, 3, `, "resume": true`))
	mustOK(t, err)
	defer r.Close()
	mustOK(t, r.RegisterHook("stateful", PriorityNormal, stages, stateHook(t, &restored, &checks)))
	mustOK(t, r.Train())
	if restored != 1008 || r.Iter() != 12 || checks != 2 {
		t.Errorf("restored %d iter %d checks %d", restored, r.Iter(), checks)
	}
}

func TestHooksInfoListsTheHookWithItsPriority(t *testing.T) {
	r := toyRunner(t, "info", 1, "")
	defer r.Close()
	nop := func(*HookCtx) HookAction { return Continue }
	mustOK(t, r.RegisterHook("go_high", PriorityHigh, StageAfterTrainIter.Bit(), nop))
	mustOK(t, r.RegisterHook("go_lowest", PriorityLowest, StageAfterTrainIter.Bit(), nop))
	info := r.HooksInfo()
	at := strings.Index(info, "after_train_iter:\n")
	if at < 0 {
		t.Fatalf("no after_train_iter block:\n%s", info)
	}
	block := info[at:]
	if !strings.Contains(block, "(HIGH        ) go_high") || !strings.Contains(block, "(LOWEST      ) go_lowest") {
		t.Errorf("priorities missing:\n%s", info)
	}
	hi, timer, lo := strings.Index(block, "go_high"), strings.Index(block, "IterTimerHook"), strings.Index(block, "go_lowest")
	if !(hi < timer && timer < lo) {
		t.Errorf("priority order:\n%s", block)
	}
	if strings.Contains(info[:at], "go_high") {
		t.Error("listed under a stage outside its mask")
	}
}

func TestHandlesAreReleasedExactlyOnce(t *testing.T) {
	base := atomic.LoadInt64(&liveHooks)
	live := func() int64 { return atomic.LoadInt64(&liveHooks) - base }
	r := toyRunner(t, "handles", 1, "")
	nop := func(*HookCtx) HookAction { return Continue }
	mustOK(t, r.RegisterHook("a", PriorityNormal, StagesAll, nop))
	mustOK(t, r.RegisterHook("b", PriorityNormal, StageAfterTrainIter.Bit(), nop))
	mustOK(t, r.RegisterHook("c", PriorityNormal, StageAfterTrainIter.Bit(), nop))
	if live() != 3 {
		t.Fatalf("live %d", live())
	}
	// Failed registrations release the handle at once (the library frees the user data).
	err := r.RegisterHook("bad", 101, StageAfterTrainIter.Bit(), nop)
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "priority") {
		t.Errorf("priority 101: %v", err)
	}
	if err := r.RegisterHook("a", PriorityNormal, StageAfterTrainIter.Bit(), nop); !IsCode(err, CodeInvalidArgument) {
		t.Errorf("duplicate: %v", err)
	}
	if live() != 3 {
		t.Errorf("live after failures %d", live())
	}
	mustOK(t, r.RemoveHook("c"))
	if live() != 2 {
		t.Errorf("live after removal %d", live())
	}
	if err := r.RemoveHook("c"); !IsCode(err, CodeNotFound) {
		t.Errorf("second removal: %v", err)
	}
	mustOK(t, r.Train())
	r.Close()
	r.Close()
	if live() != 0 {
		t.Errorf("live after Close %d", live())
	}
	// The finalizer closes a forgotten runner.
	func() {
		r2 := toyRunner(t, "finalizer", 1, "")
		mustOK(t, r2.RegisterHook("x", PriorityNormal, StagesAll, nop))
	}()
	deadline := time.Now().Add(20 * time.Second)
	for live() != 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if live() != 0 {
		t.Errorf("the finalizer did not release the runner: live %d", live())
	}
}

func TestBadConfigsAreErrorsWithCodesAndJSONPaths(t *testing.T) {
	_, err := NewRunner(`{"model": `)
	if !IsCode(err, CodeConfig) || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("invalid JSON: %v", err)
	}
	// A work_dir keeps whatever the library writes before validation out of the cwd.
	wd, _ := json.Marshal(workDir(t, "badcfg"))
	_, err = NewRunner(fmt.Sprintf(`{"work_dir": %s, "model": {"type": "ToyModle"}}`, wd))
	if !IsCode(err, CodeConfig) || !strings.Contains(err.Error(), "model.type") || !strings.Contains(err.Error(), "ToyModel") {
		t.Errorf("unknown type: %v", err)
	}
	_, err = NewRunner("{\x00}")
	if !IsCode(err, CodeInvalidArgument) {
		t.Errorf("NUL: %v", err)
	}
}

func TestValAndTestRunTheirHooks(t *testing.T) {
	r := toyRunner(t, "valtest", 1, "")
	defer r.Close()
	var stages []Stage
	mustOK(t, r.RegisterHook("evals", PriorityNormal, StagesOf(StageAfterValEpoch, StageAfterTestEpoch), func(c *HookCtx) HookAction {
		if m := c.Metrics(); len(m) != 1 || m[0] != (Metric{"acc", 1.0}) {
			t.Errorf("metrics %v", m)
		}
		stages = append(stages, c.Stage())
		return Continue
	}))
	mustOK(t, r.Val())
	mustOK(t, r.Test())
	if len(stages) != 2 || stages[0] != StageAfterValEpoch || stages[1] != StageAfterTestEpoch {
		t.Errorf("stages %v", stages)
	}
}

func TestLogRecordsAreRoutedToAGoHandler(t *testing.T) {
	var mu sync.Mutex
	var levels []int32
	SetLogHandler(func(level int32, message string) {
		mu.Lock()
		levels = append(levels, level)
		mu.Unlock()
	})
	r := toyRunner(t, "log", 1, `, "load_from": "/nonexistent/x.pth", "resume": false`)
	err := r.Val()
	if !IsCode(err, CodeCheckpoint) || !strings.Contains(err.Error(), "/nonexistent/x.pth") {
		t.Errorf("val with a missing checkpoint: %v", err)
	}
	r.Close()
	SetLogHandler(nil)
	mu.Lock()
	defer mu.Unlock()
	sawError := false
	for _, l := range levels {
		sawError = sawError || l == 40
	}
	if !sawError {
		t.Errorf("no ERROR record routed: %v", levels)
	}
}

func liveHookCounter() func() int64 {
	base := atomic.LoadInt64(&liveHooks)
	return func() int64 { return atomic.LoadInt64(&liveHooks) - base }
}

// within runs f on a goroutine of its own and reports whether it finished (returned or
// exited) in time; returned says whether it returned.
func within(d time.Duration, f func()) (finished, returned bool) {
	done := make(chan bool, 1)
	go func() {
		ok := false
		defer func() { done <- ok }()
		f()
		ok = true
	}()
	select {
	case returned = <-done:
		return true, returned
	case <-time.After(d):
		return false, false
	}
}

func TestCloseFromAnotherGoroutineStopsTheRunAndWaitsForIt(t *testing.T) {
	live := liveHookCounter()
	r := toyRunner(t, "close_other", 50, "")
	started := make(chan struct{})
	var calls, callsAfterClose int32
	var closed atomic.Bool
	mustOK(t, r.RegisterHook("slow", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		atomic.AddInt32(&calls, 1)
		if closed.Load() {
			atomic.AddInt32(&callsAfterClose, 1)
		}
		if c.Iter() == 2 {
			close(started)
		}
		time.Sleep(time.Millisecond)
		return Continue
	}))
	trainErr := make(chan error, 1)
	go func() { trainErr <- r.Train() }()
	<-started
	r.Close()
	closed.Store(true)
	// Close returned: the run is over and the hooks are released.
	if n := live(); n != 0 {
		t.Errorf("Close returned with %d hook(s) still registered: it did not wait for the run", n)
	}
	select {
	case err := <-trainErr:
		if err != nil {
			t.Errorf("the stopped run failed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Train did not return after Close")
	}
	if n := atomic.LoadInt32(&callsAfterClose); n != 0 {
		t.Errorf("%d hook call(s) after Close returned", n)
	}
	if n := atomic.LoadInt32(&calls); n >= 200 {
		t.Errorf("Close did not stop the run: %d iterations", n)
	}
	if err := r.Train(); !IsCode(err, CodeFailedPrecondition) {
		t.Errorf("train after close: %v", err)
	}
	if r.HooksInfo() != "" || r.Iter() != 0 {
		t.Error("a closed runner still answers")
	}
	r.RequestStop()
	r.Close()
}

func TestCloseInsideAHookIsCarriedOutWhenTheCallReturns(t *testing.T) {
	live := liveHookCounter()
	r := toyRunner(t, "close_hook", 50, "")
	calls := 0
	mustOK(t, r.RegisterHook("closer", PriorityNormal, StagesOf(StageAfterTrainIter, StageAfterRun), func(c *HookCtx) HookAction {
		calls++
		if c.Stage() == StageAfterTrainIter && c.Iter() == 1 {
			r.Close() // must neither wait for this very call nor pull the runner from under it
			if err := r.Val(); !IsCode(err, CodeFailedPrecondition) {
				t.Errorf("val on a closing runner: %v", err)
			}
			if err := r.RegisterHook("late", PriorityNormal, StagesAll, func(*HookCtx) HookAction { return Continue }); !IsCode(err, CodeFailedPrecondition) {
				t.Errorf("register on a closing runner: %v", err)
			}
			r.RequestStop()
			r.Close() // idempotent
			if n := live(); n != 1 {
				t.Errorf("the hook was released during its own call: live %d", n)
			}
			if c.Iter() != 1 || !c.Valid() {
				t.Error("the ctx died with Close")
			}
		}
		return Continue
	}))
	var trainErr error
	finished, returned := within(30*time.Second, func() { trainErr = r.Train() })
	if !finished || !returned {
		t.Fatalf("Train after Close in a hook: finished %v returned %v", finished, returned)
	}
	if trainErr != nil {
		t.Errorf("the stopped run failed: %v", trainErr)
	}
	if calls < 2 || calls > 10 {
		t.Errorf("calls %d: the run did not stop soon after Close", calls)
	}
	if n := live(); n != 0 {
		t.Errorf("the runner was not destroyed when the call returned: live %d", n)
	}
	if err := r.Train(); !IsCode(err, CodeFailedPrecondition) {
		t.Errorf("train after close: %v", err)
	}
	r.Close()
}

func TestCallsFromOtherGoroutinesDuringCloseNeverCrash(t *testing.T) {
	r := toyRunner(t, "close_race", 50, "")
	mustOK(t, r.RegisterHook("n", PriorityNormal, StageAfterTrainIter.Bit(), func(*HookCtx) HookAction { return Continue }))
	started := make(chan struct{})
	go func() {
		close(started)
		_ = r.Train()
	}()
	<-started
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				switch (i + j) % 5 {
				case 0:
					_ = r.HooksInfo()
				case 1:
					_ = r.Iter()
				case 2:
					r.RequestStop()
				case 3:
					_, _ = r.Metrics()
				case 4:
					_ = r.RemoveHook("absent")
				}
			}
		}(i)
	}
	time.Sleep(5 * time.Millisecond)
	r.Close()
	wg.Wait()
	if r.HooksInfo() != "" {
		t.Error("a closed runner still answers")
	}
}

func TestTrainFromTwoGoroutinesOrFromItsOwnHookIsRefused(t *testing.T) {
	r := toyRunner(t, "overlap", 50, "")
	defer r.Close()
	inHook := make(chan struct{})
	release := make(chan struct{})
	var nested error
	mustOK(t, r.RegisterHook("blocker", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		if c.Iter() == 0 {
			nested = r.Train()
			close(inHook)
			<-release
			return Stop
		}
		return Continue
	}))
	trainErr := make(chan error, 1)
	go func() { trainErr <- r.Train() }()
	<-inHook
	if err := r.Train(); !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("overlapping train: %v", err)
	}
	close(release)
	mustOK(t, <-trainErr)
	if !IsCode(nested, CodeFailedPrecondition) || !strings.Contains(nested.Error(), "already running") {
		t.Errorf("train from its own hook: %v", nested)
	}
	if r.Iter() > 4 {
		t.Errorf("Stop was ignored: iter %d", r.Iter())
	}
}

func TestGoexitInAHookBreaksTheRunnerWithAClearError(t *testing.T) {
	r := toyRunner(t, "goexit", 2, "")
	defer r.Close()
	observed := false
	mustOK(t, r.RegisterHook("quitter", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		if c.Iter() == 1 {
			runtime.Goexit() // what t.FailNow and t.Fatal do
		}
		return Continue
	}))
	mustOK(t, r.RegisterHook("observer", PriorityLow, StageOnException.Bit(), func(c *HookCtx) HookAction {
		observed = true
		return Continue
	}))
	finished, returned := within(30*time.Second, func() { _ = r.Train() })
	if !finished || returned {
		t.Fatalf("Train after a Goexit in a hook: finished %v, returned %v (want it to end its goroutine)", finished, returned)
	}
	if observed {
		t.Error("on_exception ran: the library saw the Goexit as an exception, which it cannot")
	}
	// Every later call says what happened, instead of the library's "already running".
	broken := func(what string, err error) {
		t.Helper()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if !IsCode(err, CodeFailedPrecondition) || !strings.Contains(msg, "hook 'quitter' called runtime.Goexit") ||
			!strings.Contains(msg, "create a new one") || strings.Contains(msg, "already running") {
			t.Errorf("%s on the broken runner: %v", what, err)
		}
	}
	broken("Train", r.Train())
	broken("Val", r.Val())
	broken("Test", r.Test())
	broken("RemoveHook", r.RemoveHook("quitter"))
	broken("RegisterHook", r.RegisterHook("more", PriorityNormal, StagesAll, func(*HookCtx) HookAction { return Continue }))
	_, err := r.Metrics()
	broken("Metrics", err)
	if r.Iter() != 0 || r.HooksInfo() != "" {
		t.Error("the broken runner's getters answer")
	}
	r.RequestStop()
	if finished, _ := within(30*time.Second, r.Close); !finished {
		t.Fatal("Close of the broken runner hung")
	}
	r.Close()
	// The process goes on: other runners work.
	other := toyRunner(t, "goexit_other", 1, "")
	defer other.Close()
	mustOK(t, other.Train())
}

func TestCloseWaitingForARunThatAHookGoexitsReturns(t *testing.T) {
	r := toyRunner(t, "goexit_close", 50, "")
	inHook, closing := make(chan struct{}), make(chan struct{})
	mustOK(t, r.RegisterHook("quitter", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		if c.Iter() == 1 {
			close(inHook)
			<-closing
			time.Sleep(20 * time.Millisecond) // let Close start waiting for this call
			runtime.Goexit()
		}
		return Continue
	}))
	go func() { _ = r.Train() }()
	<-inHook
	finished, _ := within(30*time.Second, func() {
		close(closing)
		r.Close()
	})
	if !finished {
		t.Fatal("Close waiting for the run hung after the hook's Goexit")
	}
	if err := r.Val(); !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "'quitter'") {
		t.Errorf("val after the Goexit and Close: %v", err)
	}
}

func TestAHookThatPanickedIsNotSkippedInSilenceByLaterRuns(t *testing.T) {
	r := toyRunner(t, "poisoned", 1, "")
	defer r.Close()
	mustOK(t, r.RegisterHook("fragile", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		panic("broken state")
	}))
	func() {
		defer func() {
			if v := recover(); v != "broken state" {
				t.Errorf("recovered %#v", v)
			}
		}()
		_ = r.Train()
	}()
	for i := 0; i < 2; i++ {
		err := r.Train()
		if !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "'fragile'") {
			t.Errorf("train %d with the panicked hook registered: %v", i, err)
		}
	}
	mustOK(t, r.RemoveHook("fragile"))
	mustOK(t, r.Train())
}

func TestGoexitAndPanicInALogHandlerAreContained(t *testing.T) {
	var calls int32
	for _, h := range []func(int32, string){
		func(int32, string) { atomic.AddInt32(&calls, 1); runtime.Goexit() },
		func(int32, string) { atomic.AddInt32(&calls, 1); panic("log handler panic") },
	} {
		SetLogHandler(h)
		r := toyRunner(t, "log_goexit", 1, `, "load_from": "/nonexistent/x.pth", "resume": false`)
		if err := r.Val(); !IsCode(err, CodeCheckpoint) {
			t.Errorf("val with a missing checkpoint: %v", err)
		}
		// The runner is not left mid-call.
		if err := r.RegisterHook("after", PriorityNormal, StagesAll, func(*HookCtx) HookAction { return Continue }); err != nil {
			t.Errorf("register after the failed val: %v", err)
		}
		r.Close()
	}
	SetLogHandler(nil)
	if atomic.LoadInt32(&calls) < 2 {
		t.Errorf("the handlers were not called: %d", calls)
	}
}

func TestALogHandlerMayCallBackIntoTheRunnerItLogsFor(t *testing.T) {
	var infos []string
	var r *Runner
	SetLogHandler(func(level int32, message string) {
		if r != nil && level == 40 {
			infos = append(infos, r.HooksInfo())
			r.RequestStop()
		}
	})
	defer SetLogHandler(nil)
	r = toyRunner(t, "log_reenter", 1, `, "load_from": "/nonexistent/x.pth", "resume": false`)
	finished, _ := within(30*time.Second, func() { _ = r.Val() })
	r.Close()
	if !finished {
		t.Fatal("a log handler calling its runner hung")
	}
	if len(infos) == 0 || !strings.Contains(infos[0], "IterTimerHook") {
		t.Errorf("hooks info from the log handler: %q", infos)
	}
}

func TestStringsWithANulByteAreRefused(t *testing.T) {
	r := toyRunner(t, "nul", 1, "")
	defer r.Close()
	nop := func(*HookCtx) HookAction { return Continue }
	mustOK(t, r.RegisterHook("n", PriorityNormal, StageAfterTrainIter.Bit(), nop))
	if err := r.RegisterHook("n\x00junk", PriorityNormal, StageAfterTrainIter.Bit(), nop); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "name") {
		t.Errorf("register: %v", err)
	}
	if err := r.RemoveHook("n\x00junk"); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "name") {
		t.Errorf("remove: %v", err)
	}
	if !regexp.MustCompile(`\) n +\n`).MatchString(r.HooksInfo()) {
		t.Errorf("hook n was removed:\n%s", r.HooksInfo())
	}
	invalid := func(what string, err error) {
		t.Helper()
		if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%s: %v", what, err)
		}
	}
	checked := 0
	mustOK(t, r.RegisterHook("probe", PriorityLow, StagesOf(StageAfterTrainIter, StageBeforeSaveCheckpoint), func(c *HookCtx) HookAction {
		if c.Stage() == StageBeforeSaveCheckpoint {
			invalid("CheckpointPut", c.CheckpointPut("k\x00a", []byte("a")))
			if err := c.CheckpointPut("k", []byte("b")); err != nil {
				t.Errorf("CheckpointPut: %v", err)
			}
			invalid("CheckpointPut", c.CheckpointPut("k\x00c", []byte("c")))
			checked++
			return Continue
		}
		if c.Iter() != 0 {
			return Continue
		}
		loss, _, err := c.Scalar("train/loss")
		if err != nil {
			t.Errorf("Scalar: %v", err)
		}
		invalid("UpdateScalar", c.UpdateScalar("train/loss\x00x", 1e9))
		if v, _, _ := c.Scalar("train/loss"); v != loss {
			t.Errorf("train/loss overwritten: %v -> %v", loss, v)
		}
		_, found, err := c.Scalar("train/loss\x00x")
		invalid("Scalar", err)
		if found {
			t.Error("Scalar with a NUL found something")
		}
		_, found, err = c.Tensor("loss\x00x")
		invalid("Tensor", err)
		if found {
			t.Error("Tensor with a NUL found something")
		}
		_, _, err = c.CheckpointGet("k\x00")
		invalid("CheckpointGet", err)
		invalid("SetError", c.SetError("a\x00b"))
		checked++
		return Continue
	}))
	mustOK(t, r.Train())
	if checked != 2 {
		t.Errorf("checked %d", checked)
	}
	_, err := NewRunner("{}\x00")
	invalid("NewRunner", err)
}

func TestZeroValuesAreInertNotCrashes(t *testing.T) {
	for _, r := range []*Runner{nil, {}} {
		if err := r.Train(); !IsCode(err, CodeFailedPrecondition) {
			t.Errorf("train: %v", err)
		}
		if err := r.RegisterHook("x", PriorityNormal, StagesAll, func(*HookCtx) HookAction { return Continue }); !IsCode(err, CodeFailedPrecondition) {
			t.Errorf("register: %v", err)
		}
		if r.HooksInfo() != "" || r.Epoch() != 0 {
			t.Error("getters")
		}
		r.RequestStop()
		r.Close()
	}
	var c HookCtx
	if c.Valid() || c.Iter() != -1 {
		t.Error("zero ctx")
	}
	if _, _, err := c.Scalar("x"); !IsCode(err, CodeFailedPrecondition) {
		t.Errorf("zero ctx scalar: %v", err)
	}
	var v TensorView
	if v.Shape() != nil || v.Numel() != 0 {
		t.Error("zero view")
	}
	var tn Tensor
	if tn.Numel() != 0 {
		t.Error("zero tensor")
	}
	tn.Close()
}

func TestGoroutineIDsAreDistinct(t *testing.T) {
	here := goid()
	other := make(chan int64)
	go func() { other <- goid() }()
	if there := <-other; here <= 0 || there <= 0 || here == there {
		t.Errorf("goroutine ids %d %d", here, there)
	}
}

// BenchmarkHookCall measures what one hook call costs (the library's dispatch, the cgo callback
// and the trampoline): Val with 64 no-op hooks on every stage against Val
// without them, divided by the number of hook calls.
func BenchmarkHookCall(b *testing.B) {
	dir := os.Getenv("MMHOOK_TEST_WORK_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	cfg := toyConfig(filepath.Join(dir, "go", "bench"), 1, "")
	plain, err := NewRunner(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	hooked, err := NewRunner(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer hooked.Close()
	var calls int64
	for i := 0; i < 64; i++ {
		if err := hooked.RegisterHook(fmt.Sprintf("nop%d", i), PriorityNormal, StagesAll, func(*HookCtx) HookAction {
			calls++
			return Continue
		}); err != nil {
			b.Fatal(err)
		}
	}
	var tPlain, tHooked time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := plain.Val(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := hooked.Val(); err != nil {
			b.Fatal(err)
		}
		tPlain += t1.Sub(t0)
		tHooked += time.Since(t1)
	}
	if calls > 0 {
		b.ReportMetric(float64(tHooked-tPlain)/float64(calls), "ns/hook-call")
		b.ReportMetric(float64(calls)/float64(b.N), "hook-calls/op")
	}
}

func TestAddHookGivesATakenNameASuffix(t *testing.T) {
	base := atomic.LoadInt64(&liveHooks)
	live := func() int64 { return atomic.LoadInt64(&liveHooks) - base }
	r := toyRunner(t, "add_hook", 1, "")
	nop := func(*HookCtx) HookAction { return Continue }
	for _, want := range []string{"probe", "probe_1", "probe_2"} {
		got, err := r.AddHook("probe", PriorityNormal, StageAfterTrainIter.Bit(), nop)
		mustOK(t, err)
		if got != want {
			t.Errorf("AddHook: got %q, want %q", got, want)
		}
	}
	// Built-in hooks' names follow the same rule as config entries and C hooks.
	if got, err := r.AddHook("IterTimerHook", PriorityLow, StageAfterTrainIter.Bit(), nop); err != nil || got != "IterTimerHook_1" {
		t.Errorf("AddHook(IterTimerHook): %q, %v", got, err)
	}
	// RegisterHook keeps refusing a taken name; the suffixed hook is released at once.
	if err := r.RegisterHook("probe", PriorityNormal, StageAfterTrainIter.Bit(), nop); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("RegisterHook of a taken name: %v", err)
	}
	if live() != 4 {
		t.Errorf("live %d, want 4", live())
	}
	mustOK(t, r.RemoveHook("probe_1"))
	mustOK(t, r.Train())
	// The timing table names hooks by the names they got (HooksInfo shows their types).
	timing, err := r.GetHookTimingJSON()
	mustOK(t, err)
	if !strings.Contains(timing, `"hook":"probe_2"`) || strings.Contains(timing, "probe_1") || strings.Contains(timing, "probe_3") {
		t.Errorf("hook timing: %s", timing)
	}
	r.Close()
	if live() != 0 {
		t.Errorf("live after Close %d", live())
	}
}

func TestGettersReportErrors(t *testing.T) {
	r := toyRunner(t, "getters", 1, "")
	if s, err := r.GetMetricsJSON(); err != nil || s != "{}" {
		t.Errorf("GetMetricsJSON before a run: %q, %v", s, err)
	}
	if s, err := r.GetLastCheckpoint(); err != nil || s != "" {
		t.Errorf("GetLastCheckpoint before a run: %q, %v", s, err)
	}
	mustOK(t, r.Train())
	timing, err := r.GetHookTimingJSON()
	mustOK(t, err)
	// Times are recalibrated on each read: compare the hook names only.
	if !strings.Contains(timing, `"hook":"CheckpointHook"`) || !strings.Contains(r.HookTimingJSON(), `"hook":"CheckpointHook"`) {
		t.Errorf("timing: %s", timing)
	}
	ckpt, err := r.GetLastCheckpoint()
	mustOK(t, err)
	if !strings.HasSuffix(ckpt, "epoch_1.pth") {
		t.Errorf("last checkpoint %q", ckpt)
	}
	if it, err := r.GetIter(); err != nil || it != 4 {
		t.Errorf("GetIter: %d, %v", it, err)
	}
	r.Close()
	// After Close the getters say so instead of returning an empty text.
	for name, get := range map[string]func() (string, error){
		"GetHooksInfo": r.GetHooksInfo, "GetMetricsJSON": r.GetMetricsJSON,
		"GetHookTimingJSON": r.GetHookTimingJSON, "GetLastCheckpoint": r.GetLastCheckpoint,
	} {
		if s, err := get(); !IsCode(err, CodeFailedPrecondition) || s != "" {
			t.Errorf("%s after Close: %q, %v", name, s, err)
		}
	}
	if _, err := r.GetEpoch(); !IsCode(err, CodeFailedPrecondition) {
		t.Errorf("GetEpoch after Close: %v", err)
	}
	if r.HookTimingJSON() != "" || r.Epoch() != 0 {
		t.Error("the plain getters keep their zero values after Close")
	}
}

func TestCtxErrorsCarryTheLibraryMessage(t *testing.T) {
	r := toyRunner(t, "ctx_errors", 1, "")
	defer r.Close()
	checked := 0
	_, err := r.AddHook("probe", PriorityNormal, StageBeforeTrainIter.Bit()|StageBeforeTrainEpoch.Bit(), func(c *HookCtx) HookAction {
		if c.Stage() == StageBeforeTrainEpoch {
			if c.BatchIdx() != -1 {
				t.Errorf("batch_idx outside iteration stages: %d", c.BatchIdx())
			}
			return Continue
		}
		if _, err := c.Lr(7); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "parameter group 7 is out of range") {
			t.Errorf("Lr(7): %v", err)
		}
		if err := c.CheckpointPut("k", []byte("x")); !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "before_save_checkpoint only") {
			t.Errorf("CheckpointPut: %v", err)
		}
		if _, found, err := c.Scalar("train/none"); found || err != nil {
			t.Errorf("Scalar of a missing key: %v, %v", found, err)
		}
		if v, found, err := c.Tensor("inputs"); !found || err != nil || len(v.Shape()) != 2 {
			t.Errorf("Tensor(inputs): %v, %v", found, err)
		}
		checked++
		return Continue
	})
	mustOK(t, err)
	mustOK(t, r.Train())
	if checked != 4 {
		t.Errorf("checked %d", checked)
	}
}
