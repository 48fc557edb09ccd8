// Command autoencoder trains the convolutional autoencoder of tests/fixtures/conv_autoencoder.pt
// (scripts/make_conv_autoencoder.py: TorchScript, dict contract, MSE loss) on Fashion-MNIST
// through libmmhook.so, with a config built from mmhook's Go structs, and measures it with a
// metric written in Go:
//
//   - GoPSNR (a CustomMetric): psnr is the mean over the validation images of each image's
//     10*log10(1/MSE) (pixels in [0, 1]; an MSE below 1e-10 counts as 1e-10, so 100 dB at
//     most); psnr_global is 10*log10(1/MSE) of the MSE over all pixels of all images. The
//     built-in MeanSquaredError runs beside it (mse, over the same pixels).
//   - The baseline predicts the mean training image for every validation image; its PSNR,
//     computed here from the dataset files alone, is what the model must beat.
//
// A Go hook keeps the first -png-count images of the first batch of each validation and their
// reconstructions (the batch's "inputs" and the predict "outputs", at after_val_iter); after
// training they are written to -png as one grey PNG: originals on the top row, their
// reconstructions on the bottom row (28*N by 56 pixels).
//
// Usage:
//
//	autoencoder [-work-dir DIR] [-max-epochs N | -max-iters N] [-png PATH] [-png-count N]
//	            [-model PATH] [-data-root DIR] [-check]
//
// -check exits with status 1 unless the final psnr beats the baseline's, psnr_global agrees
// with the built-in mse, and the PNG reads back with the expected size; it prints
// "autoencoder: OK" when all hold.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"mmhook/mmhook"
)

const side = 28 // Fashion-MNIST images are 28x28

func main() {
	workDir := flag.String("work-dir", "work_dirs/go_autoencoder", "work_dir (logs and checkpoints)")
	maxEpochs := flag.Int("max-epochs", 3, "epochs to train (ignored with -max-iters)")
	maxIters := flag.Int("max-iters", 0, "train this many iterations instead of epochs (0: use -max-epochs)")
	pngPath := flag.String("png", "", "PNG of originals vs reconstructions (default WORK_DIR/reconstructions.png)")
	pngCount := flag.Int("png-count", 8, "images in the PNG (1..64)")
	model := flag.String("model", "../../tests/fixtures/conv_autoencoder.pt", "the scripted autoencoder (the default is relative to bindings/go)")
	dataRoot := flag.String("data-root", "/usr/share/datasets/fashion-mnist", "folder of the Fashion-MNIST idx files")
	check := flag.Bool("check", false, "exit 1 unless the model beats the baseline and the PNG is right")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: autoencoder [-work-dir DIR] [-max-epochs N | -max-iters N] [-png PATH] [-png-count N] [-model PATH] [-data-root DIR] [-check]")
		os.Exit(2)
	}
	if *pngPath == "" {
		*pngPath = filepath.Join(*workDir, "reconstructions.png")
	}
	o := options{workDir: *workDir, maxEpochs: *maxEpochs, maxIters: *maxIters, pngPath: *pngPath,
		pngCount: *pngCount, model: *model, dataRoot: *dataRoot, check: *check}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type options struct {
	workDir             string
	maxEpochs, maxIters int
	pngPath             string
	pngCount            int
	model, dataRoot     string
	check               bool
}

func run(o options) error {
	if o.maxIters < 0 || (o.maxIters == 0 && o.maxEpochs <= 0) {
		return fmt.Errorf("-max-epochs must be > 0 (got %d), or -max-iters > 0 (got %d)", o.maxEpochs, o.maxIters)
	}
	if o.pngCount < 1 || o.pngCount > 64 {
		return fmt.Errorf("-png-count must be in [1, 64], got %d", o.pngCount)
	}
	modelPath, err := filepath.Abs(o.model)
	if err != nil {
		return err
	}

	// The baseline, from the files alone.
	train, err := readImages(o.dataRoot, "train")
	if err != nil {
		return err
	}
	mean := meanImage(train)
	test, err := readImages(o.dataRoot, "t10k")
	if err != nil {
		return err
	}
	var base psnrSums
	for i := 0; i < len(test)/(side*side); i++ {
		base.add(test[i*side*side:(i+1)*side*side], mean)
	}
	basePSNR, baseGlobal := base.psnr()
	fmt.Printf("[go] baseline (mean training image for every test image): psnr %.2f dB, psnr_global %.2f dB\n",
		basePSNR, baseGlobal)

	metric := &psnrMetric{}
	if err := mmhook.RegisterMetric("GoPSNR", metric); err != nil {
		return err
	}
	defer func() { _ = mmhook.UnregisterMetric("GoPSNR") }()

	r, err := mmhook.NewRunnerFromConfig(jobConfig(o, modelPath))
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("libmmhook", mmhook.LibraryVersionString())

	grid := &gridCapture{n: o.pngCount}
	if _, err := r.AddHook("GoReconstructionGrid", mmhook.PriorityLow, mmhook.StageAfterValIter.Bit(), grid.hook); err != nil {
		return err
	}
	if _, err := r.AddHook("GoValReport", mmhook.PriorityLow, mmhook.StageAfterValEpoch.Bit(),
		func(c *mmhook.HookCtx) mmhook.HookAction {
			fmt.Printf("[go] validation after %d epochs / %d iterations: %v\n", c.Epoch(), c.Iter(), c.Metrics())
			return mmhook.Continue
		}); err != nil {
		return err
	}

	start := time.Now()
	if err := r.Train(); err != nil {
		return err
	}
	wall := time.Since(start)
	ms, err := r.Metrics()
	if err != nil {
		return err
	}
	values := map[string]float64{}
	for _, m := range ms {
		values[m.Name] = m.Value
	}
	psnr, psnrGlobal, mse := values["psnr"], values["psnr_global"], values["mse"]
	fmt.Printf("trained %d epochs (%d iterations) in %.1f s\n", r.Epoch(), r.Iter(), wall.Seconds())
	fmt.Printf("final: psnr %.2f dB (per-image mean), psnr_global %.2f dB, mse %.5f; baseline psnr %.2f dB, psnr_global %.2f dB\n",
		psnr, psnrGlobal, mse, basePSNR, baseGlobal)

	if err := grid.write(o.pngPath); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d originals over their reconstructions)\n", o.pngPath, grid.count())

	if !o.check {
		return nil
	}
	var problems []string
	if !(psnr > basePSNR) {
		problems = append(problems, fmt.Sprintf("psnr %.3f dB does not beat the baseline's %.3f dB", psnr, basePSNR))
	}
	if want := 10 * math.Log10(1/mse); !(math.Abs(psnrGlobal-want) < 1e-3) {
		problems = append(problems, fmt.Sprintf("psnr_global %.5f dB disagrees with MeanSquaredError's mse %.6g (%.5f dB)", psnrGlobal, mse, want))
	}
	if w, h, err := pngSize(o.pngPath); err != nil {
		problems = append(problems, err.Error())
	} else if w != side*o.pngCount || h != 2*side {
		problems = append(problems, fmt.Sprintf("%s is %dx%d, want %dx%d", o.pngPath, w, h, side*o.pngCount, 2*side))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "check failed:", p)
		}
		return errors.New("the checks failed")
	}
	fmt.Printf("autoencoder: OK (psnr %.2f dB > baseline %.2f dB, %s is %dx%d)\n", psnr, basePSNR, o.pngPath, side*o.pngCount, 2*side)
	return nil
}

// jobConfig is the run's config: Adam on the autoencoder, Fashion-MNIST without transforms
// (pixels stay in [0, 1], as the sigmoid output and PSNR's peak of 1 need), validation with
// GoPSNR and MeanSquaredError at the end of each epoch (or once, after -max-iters).
func jobConfig(o options, modelPath string) *mmhook.Config {
	fashion := func(test bool) *mmhook.DatasetConfig {
		return &mmhook.DatasetConfig{Type: "FashionMNIST", DataRoot: o.dataRoot, TestMode: test}
	}
	cfg := &mmhook.Config{
		WorkDir: o.workDir,
		Model:   &mmhook.ModelConfig{Type: "TorchScriptModel", Options: mmhook.Options{"path": modelPath}},
		TrainDataLoader: &mmhook.DataLoaderConfig{BatchSize: 64, NumWorkers: 1,
			Sampler: &mmhook.SamplerConfig{Type: "DefaultSampler", Shuffle: mmhook.Bool(true)},
			Dataset: fashion(false)},
		ValDataLoader: &mmhook.DataLoaderConfig{BatchSize: 500, NumWorkers: 1,
			Sampler: &mmhook.SamplerConfig{Type: "DefaultSampler", Shuffle: mmhook.Bool(false)},
			Dataset: fashion(true)},
		ValCfg: &mmhook.EvalLoopConfig{},
		ValEvaluator: mmhook.Evaluator{
			{Type: "GoPSNR"},
			{Type: "MeanSquaredError", Options: mmhook.Options{"pred_key": "outputs", "target_key": "inputs"}},
		},
		OptimWrapper: &mmhook.OptimWrapperConfig{Type: "OptimWrapper",
			Optimizer: &mmhook.OptimizerConfig{Type: "Adam", LR: 3e-3}},
		DefaultHooks: map[string]*mmhook.HookConfig{
			"logger": {Type: "LoggerHook", Options: mmhook.Options{"interval": 100}},
		},
		Randomness: &mmhook.RandomnessConfig{Seed: mmhook.Int64(0)},
	}
	if o.maxIters > 0 {
		cfg.TrainCfg = &mmhook.TrainLoopConfig{ByEpoch: mmhook.Bool(false), MaxIters: int64(o.maxIters),
			ValInterval: int64(o.maxIters)}
		cfg.DefaultHooks["checkpoint"] = &mmhook.HookConfig{Type: "CheckpointHook",
			Options: mmhook.Options{"by_epoch": false, "interval": o.maxIters, "max_keep_ckpts": 1}}
	} else {
		cfg.TrainCfg = &mmhook.TrainLoopConfig{ByEpoch: mmhook.Bool(true), MaxEpochs: int64(o.maxEpochs), ValInterval: 1}
		cfg.DefaultHooks["checkpoint"] = &mmhook.HookConfig{Type: "CheckpointHook",
			Options: mmhook.Options{"interval": 1, "max_keep_ckpts": 1}}
		// Cosine decay of the learning rate over the epochs, stepped every iteration.
		cfg.ParamScheduler = []mmhook.SchedulerConfig{{Type: "CosineAnnealingLR", ByEpoch: mmhook.Bool(true),
			Begin: 0, End: int64(o.maxEpochs), ConvertToIterBased: true, Options: mmhook.Options{"eta_min": 1e-4}}}
	}
	return cfg
}

// ---------------------------------------------------------------------------------------------
// PSNR

// psnrSums accumulates per-image and global squared errors of images with pixels in [0, 1].
type psnrSums struct {
	sumPSNR float64 // sum over images of 10*log10(1/MSE_i)
	images  int
	sumSq   float64 // sum over all pixels of the squared error
	pixels  int
}

// minMSE keeps a perfect reconstruction's PSNR finite (100 dB).
const minMSE = 1e-10

func (s *psnrSums) add(target, pred []float64) {
	sq := 0.0
	for i, t := range target {
		d := pred[i] - t
		sq += d * d
	}
	mse := math.Max(sq/float64(len(target)), minMSE)
	s.sumPSNR += 10 * math.Log10(1/mse)
	s.images++
	s.sumSq += sq
	s.pixels += len(target)
}

// psnr is the mean per-image PSNR and the PSNR of the global MSE (NaN without images).
func (s *psnrSums) psnr() (perImage, global float64) {
	if s.images == 0 {
		return math.NaN(), math.NaN()
	}
	return s.sumPSNR / float64(s.images), 10 * math.Log10(1/math.Max(s.sumSq/float64(s.pixels), minMSE))
}

// psnrMetric is GoPSNR: the reconstructions ("outputs" of the predict mode) against the
// batch's "inputs".
type psnrMetric struct{ sums psnrSums }

// Process adds a batch's images.
func (m *psnrMetric) Process(b *mmhook.MetricBatch) error {
	in, inShape, err := b.Data("inputs")
	if err != nil {
		return err
	}
	out, outShape, err := b.Output("outputs")
	if err != nil {
		return err
	}
	if len(inShape) != 4 || fmt.Sprint(inShape) != fmt.Sprint(outShape) {
		return fmt.Errorf("GoPSNR: outputs %v and inputs %v must have one shape [B, C, H, W]", outShape, inShape)
	}
	per := int(inShape[1] * inShape[2] * inShape[3])
	for i := 0; i < int(inShape[0]); i++ {
		m.sums.add(in[i*per:(i+1)*per], out[i*per:(i+1)*per])
	}
	return nil
}

// Compute reports psnr and psnr_global; nothing for an evaluation without images.
func (m *psnrMetric) Compute() ([]mmhook.Metric, error) {
	if m.sums.images == 0 {
		return nil, nil
	}
	p, g := m.sums.psnr()
	return []mmhook.Metric{{Name: "psnr", Value: p}, {Name: "psnr_global", Value: g}}, nil
}

// Reset drops the sums.
func (m *psnrMetric) Reset() { m.sums = psnrSums{} }

// ---------------------------------------------------------------------------------------------
// Originals vs reconstructions

// gridCapture keeps the first n images of the first validation batch and their
// reconstructions (of the latest validation).
type gridCapture struct {
	n         int
	originals []float64
	recons    []float64
}

func (g *gridCapture) hook(c *mmhook.HookCtx) mmhook.HookAction {
	if c.BatchIdx() != 0 {
		return mmhook.Continue
	}
	in, err := g.read(c, "inputs")
	if err == nil {
		var out []float64
		out, err = g.read(c, "outputs")
		if err == nil {
			g.originals, g.recons = in, out
			return mmhook.Continue
		}
	}
	_ = c.SetError("GoReconstructionGrid: " + err.Error())
	return mmhook.Abort
}

// read copies the first n images of a [B, 1, 28, 28] tensor of the call.
func (g *gridCapture) read(c *mmhook.HookCtx, key string) ([]float64, error) {
	t, found, err := c.Tensor(key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no %q tensor at after_val_iter", key)
	}
	shape := t.Shape()
	if len(shape) != 4 || shape[1] != 1 || shape[2] != side || shape[3] != side {
		return nil, fmt.Errorf("%q has shape %v, want [B, 1, %d, %d]", key, shape, side, side)
	}
	v, err := t.Float64s()
	if err != nil {
		return nil, err
	}
	n := g.n
	if int(shape[0]) < n {
		n = int(shape[0])
	}
	return v[:n*side*side], nil
}

func (g *gridCapture) count() int { return len(g.originals) / (side * side) }

// write saves the originals over the reconstructions as a grey PNG (28 pixels per image;
// values clamped to [0, 1]).
func (g *gridCapture) write(path string) error {
	n := g.count()
	if n == 0 {
		return errors.New("no validation batch was seen: nothing to draw")
	}
	img := image.NewGray(image.Rect(0, 0, side*n, 2*side))
	for row, src := range [][]float64{g.originals, g.recons} {
		for k := 0; k < n; k++ {
			for y := 0; y < side; y++ {
				for x := 0; x < side; x++ {
					v := math.Min(math.Max(src[(k*side+y)*side+x], 0), 1)
					img.SetGray(k*side+x, row*side+y, color.Gray{Y: uint8(math.Round(v * 255))})
				}
			}
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// pngSize reads a PNG's width and height back.
func pngSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	c, err := png.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return c.Width, c.Height, nil
}

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST files

// readImages reads split ("train" or "t10k") images of an idx3 file in root, plain or
// gzipped, as pixels in [0, 1], image after image.
func readImages(root, split string) ([]float64, error) {
	path := filepath.Join(root, split+"-images-idx3-ubyte")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		path += ".gz"
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the %s images in %s: %w", split, root, err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if filepath.Ext(path) == ".gz" {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var header [4]uint32 // magic, count, rows, columns (big-endian)
	if err := binary.Read(r, binary.BigEndian, &header); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if header[0] != 0x803 || header[2] != side || header[3] != side || header[1] == 0 || header[1] > 1<<20 {
		return nil, fmt.Errorf("%s: not an idx3 file of at most 2^20 %dx%d images (header %v)", path, side, side, header)
	}
	raw := make([]byte, int(header[1])*side*side)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("%s: %d images declared: %w", path, header[1], err)
	}
	out := make([]float64, len(raw))
	for i, b := range raw {
		out[i] = float64(b) / 255
	}
	return out, nil
}

// meanImage is the pixel-wise mean of the images.
func meanImage(images []float64) []float64 {
	mean := make([]float64, side*side)
	n := len(images) / (side * side)
	for i := 0; i < n; i++ {
		for p, v := range images[i*side*side : (i+1)*side*side] {
			mean[p] += v
		}
	}
	for p := range mean {
		mean[p] /= float64(n)
	}
	return mean
}
