package main

// The example's pure parts: PSNR arithmetic, the PNG layout, the idx reader and the config.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func constImage(v float64) []float64 {
	out := make([]float64, side*side)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestPSNRIsPerImageMeanAndGlobal(t *testing.T) {
	var s psnrSums
	// Errors of 0.1 and 0.01 on every pixel: MSE 1e-2 (20 dB) and 1e-4 (40 dB).
	s.add(constImage(0.5), constImage(0.6))
	s.add(constImage(0.5), constImage(0.51))
	perImage, global := s.psnr()
	if math.Abs(perImage-30) > 1e-9 {
		t.Errorf("per-image mean PSNR %v, want 30", perImage)
	}
	if want := 10 * math.Log10(1/((1e-2+1e-4)/2)); math.Abs(global-want) > 1e-9 {
		t.Errorf("global PSNR %v, want %v", global, want)
	}
	var perfect psnrSums
	perfect.add(constImage(0.3), constImage(0.3))
	if p, g := perfect.psnr(); p != 100 || g != 100 {
		t.Errorf("a perfect reconstruction gives %v / %v dB, want the 100 dB cap", p, g)
	}
	var none psnrSums
	if p, g := none.psnr(); !math.IsNaN(p) || !math.IsNaN(g) {
		t.Errorf("no images: %v / %v, want NaN", p, g)
	}
	m := &psnrMetric{}
	if ms, err := m.Compute(); err != nil || len(ms) != 0 {
		t.Errorf("an empty evaluation reports %v, %v; want nothing", ms, err)
	}
}

func TestPNGHasOriginalsOverReconstructions(t *testing.T) {
	g := &gridCapture{n: 3}
	g.originals = append(append(constImage(0), constImage(0.5)...), constImage(1)...)
	g.recons = append(append(constImage(1), constImage(2)...), constImage(-1)...) // clamped
	path := filepath.Join(t.TempDir(), "sub", "grid.png")
	if err := g.write(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 3*side || b.Dy() != 2*side {
		t.Fatalf("image %v, want %dx%d", b, 3*side, 2*side)
	}
	want := [2][3]uint32{{0, 128, 255}, {255, 255, 0}}
	for row := 0; row < 2; row++ {
		for k := 0; k < 3; k++ {
			r, _, _, _ := img.At(k*side+side/2, row*side+side/2).RGBA()
			if r>>8 != want[row][k] {
				t.Errorf("row %d image %d: grey %d, want %d", row, k, r>>8, want[row][k])
			}
		}
	}
	if err := (&gridCapture{n: 3}).write(path); err == nil || !strings.Contains(err.Error(), "no validation batch") {
		t.Errorf("nothing captured: %v", err)
	}
}

// writeIdx writes an idx3 file of n images whose pixels all equal the image's index.
func writeIdx(t *testing.T, path string, n int, gz bool, magic uint32) {
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.BigEndian, [4]uint32{magic, uint32(n), side, side})
	for i := 0; i < n; i++ {
		buf.Write(bytes.Repeat([]byte{byte(i)}, side*side))
	}
	data := buf.Bytes()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		_, _ = w.Write(data)
		_ = w.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadImagesPlainOrGzippedAndMeanImage(t *testing.T) {
	dir := t.TempDir()
	writeIdx(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), 3, true, 0x803)
	writeIdx(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), 2, false, 0x803)
	train, err := readImages(dir, "train")
	if err != nil || len(train) != 3*side*side {
		t.Fatalf("train: %d values, %v", len(train), err)
	}
	if mean := meanImage(train); math.Abs(mean[0]-1.0/255) > 1e-12 || math.Abs(mean[side*side-1]-1.0/255) > 1e-12 {
		t.Errorf("mean of images 0, 1, 2 /255: %v, %v", mean[0], mean[side*side-1])
	}
	test, err := readImages(dir, "t10k")
	if err != nil || len(test) != 2*side*side || test[side*side] != 1.0/255 {
		t.Errorf("t10k: %d values, %v", len(test), err)
	}
	writeIdx(t, filepath.Join(dir, "bad-images-idx3-ubyte"), 1, false, 0x801)
	if _, err := readImages(dir, "bad"); err == nil || !strings.Contains(err.Error(), "not an idx3 file") {
		t.Errorf("labels file read as images: %v", err)
	}
	if _, err := readImages(dir, "none"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("missing file: %v", err)
	}
}

func TestJobConfigIsIterOrEpochBased(t *testing.T) {
	o := options{workDir: "w", maxIters: 100, dataRoot: "/d"}
	b, err := json.Marshal(jobConfig(o, "/m.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"train_cfg":{"by_epoch":false,"max_iters":100,"val_interval":100}`,
		`"model":{"type":"TorchScriptModel","path":"/m.pt"}`, `"val_cfg":{}`,
		`"val_evaluator":[{"type":"GoPSNR"},{"type":"MeanSquaredError","pred_key":"outputs","target_key":"inputs"}]`,
		`"checkpoint":{"type":"CheckpointHook","by_epoch":false,"interval":100,"max_keep_ckpts":1}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("iteration-based config lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "transforms") || strings.Contains(string(b), "param_scheduler") {
		t.Errorf("iteration-based config has transforms or a scheduler:\n%s", b)
	}
	o = options{workDir: "w", maxEpochs: 4, dataRoot: "/d"}
	b, _ = json.Marshal(jobConfig(o, "/m.pt"))
	if !strings.Contains(string(b), `"train_cfg":{"by_epoch":true,"max_epochs":4,"val_interval":1}`) ||
		!strings.Contains(string(b), `"end":4`) {
		t.Errorf("epoch-based config:\n%s", b)
	}
}
