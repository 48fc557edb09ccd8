package mmhook

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// goToyBatch is the built-in ToyDataset (src/data/toy_dataset.cpp), a batch at a time.
type goToyBatch struct {
	mu   sync.Mutex
	seen [][]int64 // the batches filled
	mode string    // "", "fails", "wrongtype", "panics"
}

func (d *goToyBatch) Len() int64 { return 12 }

func (d *goToyBatch) FillBatch(indices []int64, batch *BatchWriter) error {
	switch d.mode {
	case "fails":
		return errors.New("disk on fire")
	case "wrongtype":
		if _, err := batch.Int64s("inputs"); err != nil {
			return err
		}
	case "panics":
		panic("boom")
	}
	if batch.Len() != len(indices) || len(batch.Seeds()) != len(indices) {
		return fmt.Errorf("batch of %d for %d indices", batch.Len(), len(indices))
	}
	inputs, err := batch.Float32s("inputs")
	if err != nil {
		return err
	}
	targets, err := batch.Float32s("targets")
	if err != nil {
		return err
	}
	if _, err := batch.Float32s("targets"); err == nil || !strings.Contains(err.Error(), "already taken") {
		return fmt.Errorf("a second take of a field: %v", err)
	}
	for i, index := range indices {
		x := float64(index) / 12
		inputs[2*i] = float32(x)
		inputs[2*i+1] = float32(1 - x)
		targets[i] = 1
	}
	d.mu.Lock()
	d.seen = append(d.seen, append([]int64(nil), indices...))
	d.mu.Unlock()
	return nil
}

var toyBatchFields = []Field{{Key: "inputs", DType: DTypeF32, Shape: []int64{2}}, {Key: "targets", DType: DTypeF32, Shape: []int64{1}}}

// trainShuffled trains 3 shuffled epochs (batch 5) over dataset; the loss of every iteration.
func trainShuffled(t *testing.T, sub, dataset string, workers int) ([]float64, error) {
	cfg := fmt.Sprintf(`{"work_dir": %q, "model": {"type": "ToyModel"},
  "train_dataloader": {"batch_size": 5, "num_workers": %d,
    "sampler": {"type": "DefaultSampler", "shuffle": true}, "dataset": {"type": %q}},
  "train_cfg": {"by_epoch": true, "max_epochs": 3},
  "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
  "randomness": {"seed": 7}, "log_level": "WARNING"}`, workDir(t, "batch_"+sub), workers, dataset)
	r, err := NewRunner(cfg)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var losses []float64
	_, err = r.AddHook("RecordLoss", PriorityNormal, StagesOf(StageAfterTrainIter), func(ctx *HookCtx) HookAction {
		v, found, err := ctx.Tensor("loss")
		if err != nil || !found {
			t.Errorf("loss: %v %v", found, err)
			return Abort
		}
		f, err := v.Float64s()
		if err != nil {
			t.Errorf("loss: %v", err)
			return Abort
		}
		losses = append(losses, f[0])
		return Continue
	})
	if err != nil {
		return nil, err
	}
	return losses, r.Train()
}

func TestBatchDatasetTrainsLikeTheBuiltinToyDataset(t *testing.T) {
	before := atomic.LoadInt64(&liveBatchDatasets)
	ds := &goToyBatch{}
	if err := RegisterBatchDataset("GoToyBatch", toyBatchFields, ds); err != nil {
		t.Fatal(err)
	}
	builtin, err := trainShuffled(t, "builtin", "ToyDataset", 0)
	if err != nil {
		t.Fatal(err)
	}
	batched, err := trainShuffled(t, "batch", "GoToyBatch", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(builtin) != 9 || len(batched) != 9 {
		t.Fatalf("iterations: %d and %d", len(builtin), len(batched))
	}
	for i := range builtin {
		if math.Float64bits(builtin[i]) != math.Float64bits(batched[i]) {
			t.Errorf("iter %d: loss %v (built-in) vs %v (Go batch dataset)", i, builtin[i], batched[i])
		}
	}
	batches := append([][]int64(nil), ds.seen...)
	var order []int64
	for _, b := range batches {
		order = append(order, b...)
	}
	if len(order) != 36 {
		t.Fatalf("%d indices", len(order))
	}
	identity := true
	for e := 0; e < 3; e++ {
		epoch := append([]int64(nil), order[e*12:(e+1)*12]...)
		for i, v := range epoch {
			if v != int64(i) {
				identity = false
			}
		}
		sort.Slice(epoch, func(i, j int) bool { return epoch[i] < epoch[j] })
		for i, v := range epoch {
			if v != int64(i) {
				t.Errorf("epoch %d is not a permutation of 0..11: %v", e, order[e*12:(e+1)*12])
				break
			}
		}
	}
	if identity {
		t.Error("indices are not shuffled")
	}
	ds.seen = nil
	workers, err := trainShuffled(t, "batch_workers", "GoToyBatch", 2)
	if err != nil {
		t.Fatal(err)
	}
	// Workers fill concurrently, so the same batches in any order.
	sortBatches := func(b [][]int64) []string {
		out := make([]string, len(b))
		for i, x := range b {
			out[i] = fmt.Sprint(x)
		}
		sort.Strings(out)
		return out
	}
	if !reflect.DeepEqual(workers, batched) || !reflect.DeepEqual(sortBatches(ds.seen), sortBatches(batches)) {
		t.Errorf("with loader workers: losses %v vs %v, batches %v vs %v", workers, batched, ds.seen, batches)
	}
	if err := UnregisterDatasetType("GoToyBatch"); err != nil {
		t.Fatal(err)
	}
	if got := atomic.LoadInt64(&liveBatchDatasets); got != before {
		t.Errorf("live registrations %d, want %d (user data freed once)", got, before)
	}
	if err := UnregisterDatasetType("GoToyBatch"); !IsCode(err, CodeNotFound) {
		t.Errorf("second unregister: %v", err)
	}
}

func TestBatchDatasetFillErrorsNameTheTypeAndSayWhy(t *testing.T) {
	before := atomic.LoadInt64(&liveBatchDatasets)
	cases := []struct{ name, mode, text string }{
		{"GoFails", "fails", "batch dataset type 'GoFails', fill of 5 samples: returned code 1 (disk on fire)"},
		{"GoWrongType", "wrongtype", "(field 'inputs' is f32, not i64)"},
		{"GoPanics", "panics", "(panic in Go batch dataset 'GoPanics': boom)"},
	}
	for _, c := range cases {
		if err := RegisterBatchDataset(c.name, toyBatchFields, &goToyBatch{mode: c.mode}); err != nil {
			t.Fatal(err)
		}
		_, err := trainShuffled(t, c.name, c.name, 0)
		if err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.mode == "panics" {
			_, err := trainShuffled(t, c.name+"_again", c.name, 0)
			if err == nil || !strings.Contains(err.Error(), "panicked in an earlier fill") {
				t.Errorf("%s again: %v", c.name, err)
			}
		}
		if err := UnregisterDatasetType(c.name); err != nil {
			t.Fatal(err)
		}
	}
	if got := atomic.LoadInt64(&liveBatchDatasets); got != before {
		t.Errorf("live registrations %d, want %d", got, before)
	}
}

func TestBatchDatasetBadDeclarationsAreRefused(t *testing.T) {
	before := atomic.LoadInt64(&liveBatchDatasets)
	twice := []Field{{Key: "x", DType: DTypeU8}, {Key: "x", DType: DTypeI32}}
	err := RegisterBatchDataset("GoTwice", twice, &goToyBatch{})
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "field 'x', registration: the key is declared twice") {
		t.Errorf("twice: %v", err)
	}
	err = RegisterBatchDataset("GoNeg", []Field{{Key: "x", DType: DTypeF64, Shape: []int64{-1}}}, &goToyBatch{})
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "negative size -1") {
		t.Errorf("negative: %v", err)
	}
	err = RegisterBatchDataset("GoNone", nil, &goToyBatch{})
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "fields is NULL") {
		t.Errorf("no fields: %v", err)
	}
	if err := RegisterBatchDataset("Go\x00Nul", toyBatchFields, &goToyBatch{}); !IsCode(err, CodeInvalidArgument) {
		t.Errorf("NUL: %v", err)
	}
	if got := atomic.LoadInt64(&liveBatchDatasets); got != before {
		t.Errorf("live registrations %d, want %d (user data freed on every error)", got, before)
	}
}
