package mmhook

// Metric types written in Go (RegisterMetric) on the toy runner (12 samples, batch 3: 4 val
// batches): named in val_evaluator/test_evaluator like a built-in, called Reset, Process x4,
// Compute, Reset per evaluation; errors and panics fail the run naming the metric.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// evalRunner is the toy val/test runner with evaluator (JSON) as val_evaluator and
// test_evaluator.
func evalRunner(t *testing.T, sub, evaluator string) *Runner {
	wd, _ := json.Marshal(workDir(t, sub))
	loader := `{"batch_size": 3, "num_workers": 0, "sampler": {"type": "DefaultSampler", "shuffle": false}, "dataset": {"type": "ToyDataset"}}`
	r, err := NewRunner(fmt.Sprintf(`{"work_dir": %s, "model": {"type": "ToyModel"},
  "val_dataloader": %s, "test_dataloader": %s, "val_evaluator": %s, "test_evaluator": %s,
  "val_cfg": {}, "test_cfg": {}, "randomness": {"seed": 0}, "log_level": "WARNING"}`,
		wd, loader, loader, evaluator, evaluator))
	if err != nil {
		t.Fatalf("eval runner: %v", err)
	}
	return r
}

func metricValue(t *testing.T, ms []Metric, key string) float64 {
	t.Helper()
	for _, m := range ms {
		if m.Name == key {
			return m.Value
		}
	}
	t.Errorf("no %s in %v", key, ms)
	return math.NaN()
}

// goMAE is the mean absolute error of "outputs" against "targets", logging its calls.
type goMAE struct {
	sum     float64
	count   int
	log     strings.Builder
	calls   int
	failAt  int
	panicAt int
}

func (m *goMAE) Process(b *MetricBatch) error {
	m.log.WriteByte('P')
	m.calls++
	if m.calls == m.failAt {
		return errors.New("bad batch on purpose")
	}
	if m.calls == m.panicAt {
		panic("metric panic on purpose")
	}
	if _, _, err := b.Output("targets"); !IsCode(err, CodeNotFound) {
		return fmt.Errorf("Output(targets): %v", err)
	}
	o, shape, err := b.Output("outputs")
	if err != nil {
		return err
	}
	if len(shape) != 2 || shape[0] != 3 {
		return fmt.Errorf("outputs shape %v", shape)
	}
	tg, _, err := b.Data("targets")
	if err != nil {
		return err
	}
	if len(o) != len(tg) {
		return fmt.Errorf("%d outputs, %d targets", len(o), len(tg))
	}
	for i := range o {
		m.sum += math.Abs(o[i] - tg[i])
	}
	m.count += len(o)
	return nil
}

func (m *goMAE) Compute() ([]Metric, error) {
	m.log.WriteByte('C')
	return []Metric{{"mae", m.sum / float64(m.count)}, {"n", float64(m.count)}}, nil
}

func (m *goMAE) Reset() {
	m.log.WriteByte('R')
	m.sum, m.count = 0, 0
}

func TestGoMetricMatchesBuiltinAndIsResetPerEvaluation(t *testing.T) {
	m := &goMAE{}
	mustOK(t, RegisterMetric("GoMae", m))
	if err := RegisterMetric("GoMae", &goMAE{}); !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second registration: %v", err)
	}
	if err := RegisterMetric("Bad\x00Name", &goMAE{}); !IsCode(err, CodeInvalidArgument) {
		t.Errorf("NUL name: %v", err)
	}
	if err := RegisterMetric("GoNil", nil); !IsCode(err, CodeInvalidArgument) {
		t.Errorf("nil metric: %v", err)
	}
	r := evalRunner(t, "metric_ok", `[{"type": "MeanAbsoluteError"}, {"type": "GoMae", "prefix": "go"}]`)
	mustOK(t, r.Val())
	if got := m.log.String(); got != "RPPPPCR" {
		t.Errorf("calls %q", got)
	}
	ms, err := r.Metrics()
	mustOK(t, err)
	builtin := metricValue(t, ms, "mae")
	if !(builtin > 0) || !near(metricValue(t, ms, "go/mae"), builtin) || metricValue(t, ms, "go/n") != 12 {
		t.Errorf("metrics %v", ms)
	}
	mustOK(t, r.Test())
	if got := m.log.String(); got != "RPPPPCRRPPPPCR" {
		t.Errorf("calls %q", got)
	}
	ms, err = r.Metrics()
	mustOK(t, err)
	if metricValue(t, ms, "go/n") != 12 {
		t.Errorf("not reset between evaluations: %v", ms)
	}
	r.Close()
	mustOK(t, UnregisterMetric("GoMae"))
	if err := UnregisterMetric("GoMae"); !IsCode(err, CodeNotFound) {
		t.Errorf("second unregister: %v", err)
	}
}

func TestGoMetricErrorsAndPanicsFailTheRunNamingIt(t *testing.T) {
	m := &goMAE{failAt: 3, panicAt: 6}
	mustOK(t, RegisterMetric("GoMaeFails", m))
	defer func() { mustOK(t, UnregisterMetric("GoMaeFails")) }()
	r := evalRunner(t, "metric_fail", `{"type": "GoMaeFails"}`)
	defer r.Close()
	err := r.Val()
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "GoMaeFails") ||
		!strings.Contains(err.Error(), "process") || !strings.Contains(err.Error(), "bad batch on purpose") {
		t.Errorf("process error: %v", err)
	}
	err = r.Val()
	if !IsCode(err, CodeInternal) || !strings.Contains(err.Error(), "panic in Go metric 'GoMaeFails' Process: metric panic on purpose") {
		t.Errorf("panic: %v", err)
	}
	err = r.Val()
	if !IsCode(err, CodeFailedPrecondition) || !strings.Contains(err.Error(), "panicked in an earlier call") {
		t.Errorf("broken metric: %v", err)
	}
}

// The library deletes the cgo handle once the type is unregistered and no runner uses it.
func TestGoMetricIsReleasedAfterUnregister(t *testing.T) {
	released := make(chan struct{})
	func() {
		m := &goMAE{}
		runtime.SetFinalizer(m, func(*goMAE) { close(released) })
		mustOK(t, RegisterMetric("GoMaeReleased", m))
	}()
	mustOK(t, UnregisterMetric("GoMaeReleased"))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-released:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Error("the metric was not released after UnregisterMetric")
}
