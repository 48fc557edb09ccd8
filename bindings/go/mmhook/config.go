package mmhook

// Typed runner configs: Go structs for the common parts of an MMEngine-style config, marshalled
// with encoding/json into the JSON the library reads (configs/*.json, docs/porting_from_mmengine.md).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
)

// Options holds the keys of a config object that its struct has no field for: type-specific
// options ({"momentum": 0.9} for SGD, {"path": "m.pt"} for TorchScriptModel, {"interval": 1}
// for CheckpointHook) and anything newer than this binding. They are written after the
// struct's fields; a key that a set field also writes is an error when the config is
// marshalled. Values are anything encoding/json encodes. Configs read with ParseConfig hold
// numbers here as json.Number, so they are written back exactly as read.
type Options map[string]interface{}

// Bool returns a pointer to b, for the *bool fields whose absence means a default other than
// false (SamplerConfig.Shuffle defaults to true).
func Bool(b bool) *bool { return &b }

// Int64 returns a pointer to v, for the *int64 fields whose absence differs from 0
// (RandomnessConfig.Seed: absent means a random seed).
func Int64(v int64) *int64 { return &v }

// Config is a runner config: MMEngine's top-level keys as fields. A nil pointer, empty string
// or nil slice is left out, so the library applies its default; a section that must be present
// but may be empty (ValCfg for validation) is a pointer to a zero struct, written as {}.
// Marshal it with encoding/json, or pass it to NewRunnerFromConfig.
type Config struct {
	WorkDir         string            `json:"work_dir,omitempty"`
	Model           *ModelConfig      `json:"model,omitempty"`
	TrainDataLoader *DataLoaderConfig `json:"train_dataloader,omitempty"`
	ValDataLoader   *DataLoaderConfig `json:"val_dataloader,omitempty"`
	TestDataLoader  *DataLoaderConfig `json:"test_dataloader,omitempty"`
	// TrainCfg needs TrainDataLoader and OptimWrapper; ValCfg needs ValDataLoader and
	// ValEvaluator; TestCfg needs TestDataLoader and TestEvaluator (all three or none).
	TrainCfg       *TrainLoopConfig    `json:"train_cfg,omitempty"`
	ValCfg         *EvalLoopConfig     `json:"val_cfg,omitempty"`
	TestCfg        *EvalLoopConfig     `json:"test_cfg,omitempty"`
	ValEvaluator   Evaluator           `json:"val_evaluator,omitempty"`
	TestEvaluator  Evaluator           `json:"test_evaluator,omitempty"`
	OptimWrapper   *OptimWrapperConfig `json:"optim_wrapper,omitempty"`
	ParamScheduler []SchedulerConfig   `json:"param_scheduler,omitempty"`
	// DefaultHooks replaces or adds default hooks by key ("logger", "checkpoint", ...); a nil
	// entry is written as null, which removes that default hook.
	DefaultHooks map[string]*HookConfig `json:"default_hooks,omitempty"`
	CustomHooks  []HookConfig           `json:"custom_hooks,omitempty"`
	Randomness   *RandomnessConfig      `json:"randomness,omitempty"`
	EnvCfg       *EnvConfig             `json:"env_cfg,omitempty"`
	// LogProcessor and Visualizer are written as given ({"window_size": 10, ...}).
	LogProcessor Options `json:"log_processor,omitempty"`
	Visualizer   Options `json:"visualizer,omitempty"`
	LoadFrom     string  `json:"load_from,omitempty"`
	Resume       bool    `json:"resume,omitempty"`
	// LogLevel is DEBUG, INFO (the default), WARNING or ERROR.
	LogLevel       string `json:"log_level,omitempty"`
	ExperimentName string `json:"experiment_name,omitempty"`
	Launcher       string `json:"launcher,omitempty"`
	// Options holds other top-level keys (auto_scale_lr, default_scope, ...).
	Options Options `json:"-"`
}

// ModelConfig is the model: its registered type and that type's options.
type ModelConfig struct {
	Type    string  `json:"type,omitempty"` // "MLPClassifier", "TorchScriptModel", ...
	Options Options `json:"-"`              // {"path": "model.pt"}, {"num_classes": 10}, ...
}

// DataLoaderConfig is a train/val/test dataloader.
type DataLoaderConfig struct {
	BatchSize  int64 `json:"batch_size,omitempty"`  // required, > 0
	NumWorkers int64 `json:"num_workers,omitempty"` // default 0: batches built on the loop's thread
	DropLast   bool  `json:"drop_last,omitempty"`
	// PrefetchFactor is the batches each worker prepares ahead (0: the default, 2).
	PrefetchFactor    int64          `json:"prefetch_factor,omitempty"`
	PersistentWorkers bool           `json:"persistent_workers,omitempty"`
	PinMemory         bool           `json:"pin_memory,omitempty"`
	Sampler           *SamplerConfig `json:"sampler,omitempty"` // nil: DefaultSampler, shuffled
	Dataset           *DatasetConfig `json:"dataset,omitempty"` // required
	// CollateFn is written as given ({"type": "default_collate"}).
	CollateFn Options `json:"collate_fn,omitempty"`
	Options   Options `json:"-"`
}

// SamplerConfig is a dataloader's sampler.
type SamplerConfig struct {
	Type    string  `json:"type,omitempty"`     // "DefaultSampler" (the default) or "InfiniteSampler"
	Shuffle *bool   `json:"shuffle,omitempty"`  // nil: true
	Seed    *int64  `json:"seed,omitempty"`     // nil: the run's seed
	RoundUp *bool   `json:"round_up,omitempty"` // nil: true
	Options Options `json:"-"`
}

// DatasetConfig is a dataloader's dataset: its registered type ("FashionMNIST", "ToyDataset",
// a type registered with RegisterBatchDataset) and options.
type DatasetConfig struct {
	Type string `json:"type,omitempty"`
	// DataRoot is the folder of the data files ("": the dataset's default).
	DataRoot string `json:"data_root,omitempty"`
	// TestMode picks the test split of the built-in datasets.
	TestMode bool `json:"test_mode,omitempty"`
	// Transforms are applied in order to each sample (MMPretrain's "pipeline").
	Transforms []TransformConfig `json:"transforms,omitempty"`
	Options    Options           `json:"-"` // {"num_samples": 12}, {"cache_transformed": false}, ...
}

// TransformConfig is one transform of a dataset ("Normalize", "RandomFlip", "RandomCrop").
type TransformConfig struct {
	Type    string  `json:"type,omitempty"`
	Options Options `json:"-"` // {"mean": 0.286, "std": 0.353}, {"prob": 0.5}, ...
}

// TrainLoopConfig is train_cfg: an epoch-based loop (ByEpoch nil or true, MaxEpochs) or an
// iteration-based one (ByEpoch false, MaxIters), unless Type names a loop.
type TrainLoopConfig struct {
	Type        string `json:"type,omitempty"`
	ByEpoch     *bool  `json:"by_epoch,omitempty"`
	MaxEpochs   int64  `json:"max_epochs,omitempty"`
	MaxIters    int64  `json:"max_iters,omitempty"`
	ValBegin    int64  `json:"val_begin,omitempty"`    // 0: the default, 1
	ValInterval int64  `json:"val_interval,omitempty"` // 0: the default (1 epoch, 1000 iterations)
	// DynamicIntervals lists [from, interval] pairs: from epoch/iteration `from` on, validate
	// every `interval`.
	DynamicIntervals [][2]int64 `json:"dynamic_intervals,omitempty"`
	Options          Options    `json:"-"`
}

// EvalLoopConfig is val_cfg or test_cfg ({} for the default ValLoop/TestLoop).
type EvalLoopConfig struct {
	Type    string  `json:"type,omitempty"`
	FP16    bool    `json:"fp16,omitempty"`
	Options Options `json:"-"`
}

// MetricConfig is one metric of an evaluator: a built-in type ("Accuracy", "MeanSquaredError")
// or one registered with RegisterMetric.
type MetricConfig struct {
	Type    string  `json:"type,omitempty"`
	Prefix  string  `json:"prefix,omitempty"` // prepended to the metric names ("val" -> "val/mse")
	Options Options `json:"-"`                // {"topk": [1]}, {"pred_key": "outputs"}, ...
}

// Evaluator is val_evaluator or test_evaluator: its metrics. One metric is written as an
// object, several as a list, as MMEngine configs write them; nil is left out.
type Evaluator []MetricConfig

// ClipGradConfig is OptimWrapper's gradient clipping: by norm (MaxNorm, NormType) or by value
// (ClipValue).
type ClipGradConfig struct {
	MaxNorm   float64 `json:"max_norm,omitempty"`
	NormType  float64 `json:"norm_type,omitempty"` // 0: the default, 2
	ClipValue float64 `json:"clip_value,omitempty"`
	Options   Options `json:"-"`
}

// OptimWrapperConfig is optim_wrapper.
type OptimWrapperConfig struct {
	Type      string           `json:"type,omitempty"` // "OptimWrapper" (the default) or "AmpOptimWrapper"
	Optimizer *OptimizerConfig `json:"optimizer,omitempty"`
	ClipGrad  *ClipGradConfig  `json:"clip_grad,omitempty"`
	// AccumulativeCounts accumulates gradients over this many iterations (0: the default, 1).
	AccumulativeCounts int64   `json:"accumulative_counts,omitempty"`
	Options            Options `json:"-"` // {"loss_scale": "dynamic"}, {"paramwise_cfg": ...}
}

// OptimizerConfig is the optimizer of an OptimWrapper ("SGD", "Adam", "AdamW", ...).
type OptimizerConfig struct {
	Type        string  `json:"type,omitempty"`
	LR          float64 `json:"lr,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Options     Options `json:"-"` // {"nesterov": true}, {"betas": [0.9, 0.999]}, ...
}

// SchedulerConfig is one parameter scheduler ("LinearLR", "CosineAnnealingLR", ...).
type SchedulerConfig struct {
	Type    string `json:"type,omitempty"`
	ByEpoch *bool  `json:"by_epoch,omitempty"` // nil: true
	Begin   int64  `json:"begin,omitempty"`
	End     int64  `json:"end,omitempty"` // 0: the default (to the end of training)
	// ConvertToIterBased steps an epoch-based schedule every iteration.
	ConvertToIterBased bool    `json:"convert_to_iter_based,omitempty"`
	Options            Options `json:"-"` // {"start_factor": 0.1}, {"eta_min": 1e-4}, ...
}

// HookConfig is a default or custom hook.
type HookConfig struct {
	Type string `json:"type,omitempty"`
	// Priority is a level name ("ABOVE_NORMAL") or a number (0..100, lower runs earlier); nil
	// keeps the hook's own priority.
	Priority interface{} `json:"priority,omitempty"`
	// After and Before name hooks this one must run after / before, within its priority.
	After   []string `json:"after,omitempty"`
	Before  []string `json:"before,omitempty"`
	Options Options  `json:"-"` // {"interval": 100}, {"momentum": 0.01}, ...
}

// RandomnessConfig is randomness.
type RandomnessConfig struct {
	Seed          *int64  `json:"seed,omitempty"` // nil: a random seed
	DiffRankSeed  bool    `json:"diff_rank_seed,omitempty"`
	Deterministic bool    `json:"deterministic,omitempty"`
	Options       Options `json:"-"`
}

// EnvConfig is env_cfg.
type EnvConfig struct {
	CudnnBenchmark bool  `json:"cudnn_benchmark,omitempty"`
	NumThreads     int64 `json:"num_threads,omitempty"` // 0: the default
	// HookTiming is "sampled" (the default), "all" or "off".
	HookTiming string  `json:"hook_timing,omitempty"`
	DistCfg    Options `json:"dist_cfg,omitempty"` // {"backend": "gloo", "timeout": 1800}
	Options    Options `json:"-"`
}

// NewRunnerFromConfig marshals cfg with encoding/json and creates a runner from it. A config
// that cannot be encoded (a NaN, an option that repeats a field, a value encoding/json
// refuses) is a CodeInvalidArgument error; the library's errors name the JSON path
// ("train_cfg.max_epochs: ...").
func NewRunnerFromConfig(cfg *Config) (*Runner, error) {
	if cfg == nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: "NewRunnerFromConfig: config is nil"}
	}
	text, err := json.Marshal(cfg)
	if err != nil {
		var me *json.MarshalerError
		if errors.As(err, &me) {
			err = me.Unwrap()
		}
		return nil, &Error{Code: CodeInvalidArgument, Message: "NewRunnerFromConfig: cannot encode the config: " + err.Error()}
	}
	return NewRunner(string(text))
}

// ParseConfig decodes a JSON config into a Config: keys without a field go to the Options of
// the object that holds them, numbers there as json.Number. Values of the wrong JSON type for
// their field are errors naming the key.
func ParseConfig(data []byte) (*Config, error) {
	cfg := &Config{}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadConfig reads and decodes a JSON config file (ParseConfig); errors name the file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ---------------------------------------------------------------------------------------------
// Marshalling with Options

// jsonFields maps the JSON key of each field of a struct type to the field's index (fields
// tagged "-" excluded).
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

// encodeWith marshals v (a struct value of a type without MarshalJSON) followed by opts' keys
// in sorted order.
func encodeWith(v interface{}, opts Options, what string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(opts) == 0 {
		return b, err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(b, &present); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out bytes.Buffer
	out.Write(b[:len(b)-1]) // without the closing brace
	first := len(present) == 0
	for _, k := range keys {
		if _, dup := present[k]; dup {
			return nil, fmt.Errorf("%s: option %q is also set as a field: set one of them", what, k)
		}
		value, err := json.Marshal(opts[k])
		if err != nil {
			return nil, fmt.Errorf("%s: option %q: %w", what, k, err)
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(k)
		out.Write(key)
		out.WriteByte(':')
		out.Write(value)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// fieldError is a decoding error at a key path ("train_cfg.max_epochs").
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

// decodeWith decodes a JSON object into dst (a pointer to a struct of a type without
// UnmarshalJSON): keys matching a field's JSON name exactly go to that field, the others to
// the returned Options (numbers as json.Number). Errors are *fieldError naming the key path.
func decodeWith(data []byte, dst interface{}) (Options, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &fieldError{msg: "expected an object, got JSON " + te.Value}
		}
		return nil, &fieldError{msg: err.Error()}
	}
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	var opts Options
	for k, raw := range all {
		i, ok := fields[k]
		if !ok {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var x interface{}
			if err := dec.Decode(&x); err != nil {
				return nil, &fieldError{path: k, msg: err.Error()}
			}
			if opts == nil {
				opts = Options{}
			}
			opts[k] = x
			continue
		}
		if err := json.Unmarshal(raw, v.Field(i).Addr().Interface()); err != nil {
			var fe *fieldError
			var te *json.UnmarshalTypeError
			switch {
			case errors.As(err, &fe) && fe.path != "":
				return nil, &fieldError{path: k + "." + fe.path, msg: fe.msg}
			case errors.As(err, &fe):
				return nil, &fieldError{path: k, msg: fe.msg}
			case errors.As(err, &te):
				return nil, &fieldError{path: k, msg: fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}
			default:
				return nil, &fieldError{path: k, msg: err.Error()}
			}
		}
	}
	return opts, nil
}

// The plain types below have the fields of their namesakes without the methods, so that
// encoding/json handles the fields while the methods add Options.
type (
	plainConfig       Config
	plainModelConfig  ModelConfig
	plainDataLoader   DataLoaderConfig
	plainSampler      SamplerConfig
	plainDataset      DatasetConfig
	plainTransform    TransformConfig
	plainTrainLoop    TrainLoopConfig
	plainEvalLoop     EvalLoopConfig
	plainMetric       MetricConfig
	plainClipGrad     ClipGradConfig
	plainOptimWrapper OptimWrapperConfig
	plainOptimizer    OptimizerConfig
	plainScheduler    SchedulerConfig
	plainHook         HookConfig
	plainRandomness   RandomnessConfig
	plainEnv          EnvConfig
)

// MarshalJSON writes the fields, then Options.
func (c Config) MarshalJSON() ([]byte, error) { return encodeWith(plainConfig(c), c.Options, "config") }

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *Config) UnmarshalJSON(b []byte) error {
	var p plainConfig
	opts, err := decodeWith(b, &p)
	*c = Config(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c ModelConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainModelConfig(c), c.Options, "model")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *ModelConfig) UnmarshalJSON(b []byte) error {
	var p plainModelConfig
	opts, err := decodeWith(b, &p)
	*c = ModelConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c DataLoaderConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainDataLoader(c), c.Options, "dataloader")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *DataLoaderConfig) UnmarshalJSON(b []byte) error {
	var p plainDataLoader
	opts, err := decodeWith(b, &p)
	*c = DataLoaderConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c SamplerConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainSampler(c), c.Options, "sampler")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *SamplerConfig) UnmarshalJSON(b []byte) error {
	var p plainSampler
	opts, err := decodeWith(b, &p)
	*c = SamplerConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c DatasetConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainDataset(c), c.Options, "dataset")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *DatasetConfig) UnmarshalJSON(b []byte) error {
	var p plainDataset
	opts, err := decodeWith(b, &p)
	*c = DatasetConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c TransformConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainTransform(c), c.Options, "transform")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *TransformConfig) UnmarshalJSON(b []byte) error {
	var p plainTransform
	opts, err := decodeWith(b, &p)
	*c = TransformConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c TrainLoopConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainTrainLoop(c), c.Options, "train_cfg")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *TrainLoopConfig) UnmarshalJSON(b []byte) error {
	var p plainTrainLoop
	opts, err := decodeWith(b, &p)
	*c = TrainLoopConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c EvalLoopConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainEvalLoop(c), c.Options, "eval loop config")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *EvalLoopConfig) UnmarshalJSON(b []byte) error {
	var p plainEvalLoop
	opts, err := decodeWith(b, &p)
	*c = EvalLoopConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c MetricConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainMetric(c), c.Options, "metric")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *MetricConfig) UnmarshalJSON(b []byte) error {
	var p plainMetric
	opts, err := decodeWith(b, &p)
	*c = MetricConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes one metric as an object, several as a list.
func (e Evaluator) MarshalJSON() ([]byte, error) {
	if len(e) == 1 {
		return json.Marshal(e[0])
	}
	return json.Marshal([]MetricConfig(e))
}

// UnmarshalJSON reads a metric object (one metric; {"type": "Evaluator", "metrics": [...]}
// too, kept as one MetricConfig with its metrics in Options) or a list of metrics.
func (e *Evaluator) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []MetricConfig
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*e = list
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*e = nil
		return nil
	}
	var one MetricConfig
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*e = Evaluator{one}
	return nil
}

// MarshalJSON writes the fields, then Options.
func (c ClipGradConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainClipGrad(c), c.Options, "clip_grad")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *ClipGradConfig) UnmarshalJSON(b []byte) error {
	var p plainClipGrad
	opts, err := decodeWith(b, &p)
	*c = ClipGradConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c OptimWrapperConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainOptimWrapper(c), c.Options, "optim_wrapper")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *OptimWrapperConfig) UnmarshalJSON(b []byte) error {
	var p plainOptimWrapper
	opts, err := decodeWith(b, &p)
	*c = OptimWrapperConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c OptimizerConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainOptimizer(c), c.Options, "optimizer")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *OptimizerConfig) UnmarshalJSON(b []byte) error {
	var p plainOptimizer
	opts, err := decodeWith(b, &p)
	*c = OptimizerConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c SchedulerConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainScheduler(c), c.Options, "param_scheduler")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *SchedulerConfig) UnmarshalJSON(b []byte) error {
	var p plainScheduler
	opts, err := decodeWith(b, &p)
	*c = SchedulerConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c HookConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainHook(c), c.Options, "hook")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *HookConfig) UnmarshalJSON(b []byte) error {
	var p plainHook
	opts, err := decodeWith(b, &p)
	*c = HookConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c RandomnessConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainRandomness(c), c.Options, "randomness")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *RandomnessConfig) UnmarshalJSON(b []byte) error {
	var p plainRandomness
	opts, err := decodeWith(b, &p)
	*c = RandomnessConfig(p)
	c.Options = opts
	return err
}

// MarshalJSON writes the fields, then Options.
func (c EnvConfig) MarshalJSON() ([]byte, error) {
	return encodeWith(plainEnv(c), c.Options, "env_cfg")
}

// UnmarshalJSON reads the fields; other keys go to Options.
func (c *EnvConfig) UnmarshalJSON(b []byte) error {
	var p plainEnv
	opts, err := decodeWith(b, &p)
	*c = EnvConfig(p)
	c.Options = opts
	return err
}
