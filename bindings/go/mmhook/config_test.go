package mmhook

// Typed configs (config.go): the structs marshal to the JSON the library reads (configs/toy.json
// trains from them), the shipped configs read back into them and out again unchanged, and bad
// values give errors naming the JSON path.

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// configsDir is the repository's configs/ folder (tests run in bindings/go/mmhook).
var configsDir = filepath.Join("..", "..", "..", "configs")

// toyStruct is configs/toy.json written as structs, with work_dir dir.
func toyStruct(dir string) *Config {
	return &Config{
		WorkDir: dir,
		Model:   &ModelConfig{Type: "ToyModel"},
		TrainDataLoader: &DataLoaderConfig{
			BatchSize: 3,
			Sampler:   &SamplerConfig{Type: "DefaultSampler", Shuffle: Bool(false)},
			Dataset:   &DatasetConfig{Type: "ToyDataset", Options: Options{"num_samples": 12}},
		},
		TrainCfg: &TrainLoopConfig{ByEpoch: Bool(true), MaxEpochs: 20},
		OptimWrapper: &OptimWrapperConfig{Type: "OptimWrapper",
			Optimizer: &OptimizerConfig{Type: "SGD", LR: 0.01}},
		DefaultHooks: map[string]*HookConfig{"logger": {Type: "LoggerHook", Options: Options{"interval": 4}}},
		Randomness:   &RandomnessConfig{Seed: Int64(0)},
	}
}

// decodeExact decodes JSON with numbers kept as json.Number.
func decodeExact(t *testing.T, b []byte) interface{} {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// droppable lists the typed fields whose default is their zero value, so that omitempty may
// leave out a false/0 read from a file without changing what the library does. Any other key
// that goes missing on the way back is a defect (a "shuffle": false dropped would turn
// shuffling on).
var droppable = map[string]bool{"test_mode": true, "num_workers": true, "begin": true}

// zeroish reports whether a JSON value is the zero value omitempty leaves out.
func zeroish(v interface{}) bool {
	switch x := v.(type) {
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	}
	return false
}

// sameConfig reports where got differs from want ("" if nowhere): every key of got must be in
// want with the same value; keys of want missing from got must be droppable and zeroish.
func sameConfig(path string, want, got interface{}) string {
	wm, wok := want.(map[string]interface{})
	gm, gok := got.(map[string]interface{})
	if wok && gok {
		for k, g := range gm {
			w, ok := want.(map[string]interface{})[k]
			if !ok {
				return path + "." + k + ": not in the original"
			}
			if d := sameConfig(path+"."+k, w, g); d != "" {
				return d
			}
		}
		for k, w := range wm {
			if _, ok := gm[k]; !ok && !(droppable[k] && zeroish(w)) {
				return path + "." + k + ": missing"
			}
		}
		return ""
	}
	wl, wok := want.([]interface{})
	gl, gok := got.([]interface{})
	if wok && gok {
		if len(wl) != len(gl) {
			return path + ": length differs"
		}
		for i := range wl {
			if d := sameConfig(path+"["+strconv.Itoa(i)+"]", wl[i], gl[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		b1, _ := json.Marshal(want)
		b2, _ := json.Marshal(got)
		return path + ": " + string(b1) + " != " + string(b2)
	}
	return ""
}

func TestConfigStructMarshalsToTheToyConfigAndTrains(t *testing.T) {
	got, err := json.Marshal(toyStruct("work_dirs/toy"))
	mustOK(t, err)
	// Fields in struct order, then Options sorted by key; zero values left out.
	const want = `{"work_dir":"work_dirs/toy","model":{"type":"ToyModel"},` +
		`"train_dataloader":{"batch_size":3,"sampler":{"type":"DefaultSampler","shuffle":false},` +
		`"dataset":{"type":"ToyDataset","num_samples":12}},"train_cfg":{"by_epoch":true,"max_epochs":20},` +
		`"optim_wrapper":{"type":"OptimWrapper","optimizer":{"type":"SGD","lr":0.01}},` +
		`"default_hooks":{"logger":{"type":"LoggerHook","interval":4}},"randomness":{"seed":0}}`
	if string(got) != want {
		t.Errorf("marshalled toy config\n got %s\nwant %s", got, want)
	}
	file, err := LoadConfig(filepath.Join(configsDir, "toy.json"))
	mustOK(t, err)
	fromFile, err := json.Marshal(file)
	mustOK(t, err)
	if d := sameConfig("", decodeExact(t, fromFile), decodeExact(t, got)); d != "" {
		t.Errorf("struct config differs from configs/toy.json at %s", d)
	}

	cfg := toyStruct(workDir(t, "config_struct"))
	cfg.TrainCfg.MaxEpochs = 2
	cfg.LogLevel = "WARNING"
	r, err := NewRunnerFromConfig(cfg)
	mustOK(t, err)
	defer r.Close()
	var losses []float64
	_, err = r.AddHook("RecordLoss", PriorityNormal, StageAfterTrainIter.Bit(), func(c *HookCtx) HookAction {
		l, _, _ := c.Scalar("train/loss")
		losses = append(losses, l)
		return Continue
	})
	mustOK(t, err)
	mustOK(t, r.Train())
	// 12 samples in batches of 3: 4 iterations per epoch.
	if r.Epoch() != 2 || r.Iter() != 8 || len(losses) != 8 {
		t.Fatalf("epoch %d iter %d, %d losses; want 2, 8, 8", r.Epoch(), r.Iter(), len(losses))
	}
	if !(losses[7] < losses[0]) {
		t.Errorf("the loss did not fall: %v", losses)
	}
}

func TestShippedConfigsReadIntoTheStructsAndBackUnchanged(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(configsDir, "*.json"))
	mustOK(t, err)
	if len(paths) < 3 {
		t.Fatalf("found %d configs in %s", len(paths), configsDir)
	}
	for _, p := range paths {
		cfg, err := LoadConfig(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		out, err := json.Marshal(cfg)
		mustOK(t, err)
		orig, err := os.ReadFile(p)
		mustOK(t, err)
		if d := sameConfig("", decodeExact(t, orig), decodeExact(t, out)); d != "" {
			t.Errorf("%s: written back differently at %s", p, d)
		}
	}
	cfg, err := LoadConfig(filepath.Join(configsDir, "fashion_mnist_mlp.json"))
	mustOK(t, err)
	// Typed fields are typed; the rest are Options with numbers as read.
	tl := cfg.TrainDataLoader
	if tl.BatchSize != 64 || tl.Sampler == nil || tl.Sampler.Shuffle == nil || !*tl.Sampler.Shuffle ||
		tl.Dataset.Type != "FashionMNIST" || len(tl.Dataset.Transforms) != 1 {
		t.Errorf("train_dataloader read as %+v", tl)
	} else if m := tl.Dataset.Transforms[0].Options["mean"]; m != json.Number("0.286") {
		t.Errorf("Normalize.mean read as %#v", m)
	}
	if cfg.TrainCfg.MaxEpochs != 5 || cfg.OptimWrapper.Optimizer.LR != 0.1 ||
		cfg.OptimWrapper.Optimizer.Momentum != 0.9 || len(cfg.ParamScheduler) != 2 ||
		cfg.ParamScheduler[0].ByEpoch == nil || *cfg.ParamScheduler[0].ByEpoch ||
		cfg.ParamScheduler[1].End != 5 || !cfg.ParamScheduler[1].ConvertToIterBased {
		t.Errorf("train_cfg/optim_wrapper/param_scheduler read as %+v %+v %+v",
			cfg.TrainCfg, cfg.OptimWrapper.Optimizer, cfg.ParamScheduler)
	}
	if len(cfg.ValEvaluator) != 1 || cfg.ValEvaluator[0].Type != "Accuracy" ||
		cfg.DefaultHooks["checkpoint"].Options["save_best"] != "auto" ||
		cfg.CustomHooks[0].Priority != "ABOVE_NORMAL" || cfg.Model.Options["num_classes"] != json.Number("10") ||
		cfg.Randomness.Seed == nil || *cfg.Randomness.Seed != 42 || cfg.Visualizer["type"] != "Visualizer" {
		t.Errorf("evaluator/hooks/model/randomness/visualizer read as %+v %+v %+v %+v %+v %+v",
			cfg.ValEvaluator, cfg.DefaultHooks["checkpoint"], cfg.CustomHooks, cfg.Model, cfg.Randomness, cfg.Visualizer)
	}
}

func TestEvaluatorsAndNullDefaultHooksMarshalAsTheEngineReadsThem(t *testing.T) {
	cfg := &Config{
		ValEvaluator: Evaluator{{Type: "MeanSquaredError", Options: Options{"target_key": "targets"}},
			{Type: "ToyMetric", Prefix: "toy"}},
		TestEvaluator: Evaluator{{Type: "ToyMetric"}},
		ValCfg:        &EvalLoopConfig{},
		DefaultHooks:  map[string]*HookConfig{"checkpoint": nil},
		CustomHooks:   []HookConfig{{Type: "EMAHook", Priority: 40, After: []string{"x"}}},
	}
	got, err := json.Marshal(cfg)
	mustOK(t, err)
	const want = `{"val_cfg":{},"val_evaluator":[{"type":"MeanSquaredError","target_key":"targets"},` +
		`{"type":"ToyMetric","prefix":"toy"}],"test_evaluator":{"type":"ToyMetric"},` +
		`"default_hooks":{"checkpoint":null},"custom_hooks":[{"type":"EMAHook","priority":40,"after":["x"]}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back, err := ParseConfig(got)
	mustOK(t, err)
	if len(back.ValEvaluator) != 2 || back.ValEvaluator[1].Prefix != "toy" || len(back.TestEvaluator) != 1 ||
		back.ValCfg == nil || back.DefaultHooks["checkpoint"] != nil || len(back.DefaultHooks) != 1 {
		t.Errorf("read back as %+v", back)
	}
}

// createAndTrain is the first error of creating a runner from cfg and training it (the library
// builds loops and dataloaders when a run starts).
func createAndTrain(cfg *Config) error {
	cfg.LogLevel = "WARNING"
	r, err := NewRunnerFromConfig(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Train()
}

func TestBadConfigValuesAreErrorsNamingTheJSONPath(t *testing.T) {
	// The library's errors: a bad value and an unknown option key.
	cfg := toyStruct(workDir(t, "config_bad"))
	cfg.TrainDataLoader.NumWorkers = -1
	err := createAndTrain(cfg)
	t.Logf("num_workers -1: %v", err)
	if !IsCode(err, CodeConfig) || !strings.Contains(err.Error(), "train_dataloader.num_workers") ||
		!strings.Contains(err.Error(), "-1") {
		t.Errorf("num_workers -1: %v", err)
	}
	cfg = toyStruct(workDir(t, "config_bad"))
	cfg.TrainCfg.Options = Options{"max_epoch": 3}
	err = createAndTrain(cfg)
	if !IsCode(err, CodeConfig) || !strings.Contains(err.Error(), "train_cfg.max_epoch") ||
		!strings.Contains(err.Error(), "max_epochs") {
		t.Errorf("unknown key: %v", err)
	}
	cfg = toyStruct(workDir(t, "config_bad"))
	cfg.Model.Options = Options{"path": 3}
	err = createAndTrain(cfg)
	if !IsCode(err, CodeConfig) || !strings.Contains(err.Error(), "model.path") {
		t.Errorf("option on a model without it: %v", err)
	}

	// Errors of the encoding, before the library sees anything.
	cfg = toyStruct(workDir(t, "config_bad"))
	cfg.OptimWrapper.Optimizer.LR = math.NaN()
	_, err = NewRunnerFromConfig(cfg)
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN lr: %v", err)
	}
	cfg = toyStruct(workDir(t, "config_bad"))
	cfg.OptimWrapper.Optimizer.Options = Options{"lr": 0.5}
	_, err = NewRunnerFromConfig(cfg)
	if !IsCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), `option "lr" is also set as a field`) {
		t.Errorf("lr twice: %v", err)
	}
	if _, err := NewRunnerFromConfig(nil); !IsCode(err, CodeInvalidArgument) {
		t.Errorf("nil config: %v", err)
	}

	// Errors of ParseConfig name the key path.
	for text, want := range map[string]string{
		`{"train_cfg": {"max_epochs": "two"}}`:                         "train_cfg.max_epochs: expected int64, got JSON string",
		`{"train_dataloader": {"sampler": {"shuffle": 1}}}`:            "train_dataloader.sampler.shuffle: expected bool, got JSON number",
		`{"val_evaluator": [{"type": "Accuracy"}, {"prefix": false}]}`: "val_evaluator.prefix: expected string",
		`{"model": []}`: "model: expected an object, got JSON array",
	} {
		_, err := ParseConfig([]byte(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseConfig(%s): %v, want %q", text, err, want)
		}
	}
	if _, err := LoadConfig(filepath.Join(configsDir, "no_such.json")); err == nil || !strings.Contains(err.Error(), "no_such.json") {
		t.Errorf("missing file: %v", err)
	}
}
