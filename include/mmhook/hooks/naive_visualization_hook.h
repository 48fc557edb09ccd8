#pragma once
/// @file
/// NaiveVisualizationHook (NORMAL, docs/design.md §B4.9): every `interval` test iterations it saves
/// the batch's images with their true and predicted labels as one PNG grid,
/// `<log_dir>/vis_data/test_iter_<batch_idx + 1>.png`, so a person can see what the model gets
/// wrong. mmhook has no Visualizer, so the hook draws the grid itself (libpng); MMEngine's
/// `before_train: visualizer.add_graph(model)` has no counterpart.
///
/// Grid geometry (all in pixels; n = min(B, max_images) images of H x W):
/// - each image is upscaled `kVisScale` times (nearest neighbour);
/// - under it a label strip with one text line per drawn label (`draw_gt`: "GT:<target>",
///   `draw_pred`: "PR:<argmax>"), glyphs 3x5 drawn `kVisFontScale` times, advance
///   `4 * kVisFontScale` (a line of k glyphs is `k * 4 * kVisFontScale - kVisFontScale` wide),
///   line height `kVisLineHeight` (text 2 pixels below the line's top), plus `kVisPad` below
///   the last line (no strip when neither label is drawn);
/// - cell width = max(W * kVisScale, widest text line), cell height = H * kVisScale + strip;
/// - cols = ceil(sqrt(n)), rows = ceil(n / cols), cells separated and framed by `kVisPad`:
///   width = cols * cell_w + (cols + 1) * kVisPad, height = rows * cell_h + (rows + 1) * kVisPad.
/// Text is green (kVisGreen) when the prediction equals the target, red (kVisRed) when not, and
/// white when either is unknown (no "targets" or no "outputs"); background is black.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mmhook/engine/hook.h"

namespace mmhook {

/// Upscaling factor of each image in the grid.
constexpr int64_t kVisScale = 2;
/// Size of one font pixel (glyphs are 3x5 font pixels).
constexpr int64_t kVisFontScale = 2;
/// Height of one text line of the label strip (5 font pixels plus 2 pixels of spacing).
constexpr int64_t kVisLineHeight = 5 * kVisFontScale + 2;
/// Border around and between grid cells, and the margin below the label text.
constexpr int64_t kVisPad = 2;
/// Text colour of a correct prediction.
constexpr std::array<uint8_t, 3> kVisGreen = {0, 200, 0};
/// Text colour of a wrong prediction.
constexpr std::array<uint8_t, 3> kVisRed = {230, 0, 0};
/// Text colour when correctness is unknown.
constexpr std::array<uint8_t, 3> kVisWhite = {255, 255, 255};

/// Options of NaiveVisualizationHook (MMEngine's plus the de-normalisation mmhook needs).
struct NaiveVisualizationHookOptions {
  /// Draw every `interval` test iterations (> 0).
  int64_t interval = 1;
  /// Draw the true label ("targets").
  bool draw_gt = true;
  /// Draw the predicted label (argmax of "outputs").
  bool draw_pred = true;
  /// At most this many images of a batch (> 0).
  int64_t max_images = 64;
  /// Per-channel mean (1 or C values) the inputs were normalised with; empty = none.
  std::vector<double> mean;
  /// Per-channel std (same length as `mean`, all > 0); empty = none.
  std::vector<double> std;
};

/// An 8-bit RGB image, rows top to bottom, `pixels.size() == width * height * 3`.
struct RgbImage {
  int64_t width = 0;            ///< columns
  int64_t height = 0;           ///< rows
  std::vector<uint8_t> pixels;  ///< interleaved RGB
  /// Pointer to the RGB triple of pixel (x, y).
  uint8_t* at(int64_t x, int64_t y) { return &pixels[static_cast<size_t>((y * width + x) * 3)]; }
  /// Read-only pointer to the RGB triple of pixel (x, y).
  const uint8_t* at(int64_t x, int64_t y) const {
    return &pixels[static_cast<size_t>((y * width + x) * 3)];
  }
};

/// Writes `image` as an 8-bit RGB PNG at `path` (overwriting). An Error kIo naming the file
/// (and libpng's message) when it cannot be opened or written; a partial file is removed.
void write_png_rgb(const std::string& path, const RgbImage& image);

/// Saves test batches as labelled image grids (see the file comment for the layout).
class NaiveVisualizationHook : public HookImpl<NaiveVisualizationHook> {
 public:
  /// Checks the options: an Error kInvalidArgument naming hook, option and value.
  explicit NaiveVisualizationHook(NaiveVisualizationHookOptions options = {});
  std::string type_name() const override { return "NaiveVisualizationHook"; }
  /// Every `interval` iterations (`every_n_inner_iters`): renders the batch and writes
  /// `<log_dir>/vis_data/test_iter_<batch_idx + 1>.png`.
  void after_test_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                       const TensorDict& outputs) override;

  /// Renders the grid of a batch: `inputs` [B, C, H, W] (C 1 or 3) or [B, H, W] float images,
  /// `targets` class indices ([B] or [B, 1]; undefined = unknown), `logits` [B, K] (or
  /// predicted indices [B]; undefined = unknown). An Error kInvalidArgument naming the hook
  /// and the shape for unusable tensors, or when a drawn label's tensor is missing.
  RgbImage render(const at::Tensor& inputs, const at::Tensor& targets,
                  const at::Tensor& logits) const;
  /// The options in use.
  const NaiveVisualizationHookOptions& options() const { return options_; }
  /// Paths of the PNGs written so far, in order.
  const std::vector<std::string>& written() const { return written_; }

 private:
  NaiveVisualizationHookOptions options_;
  std::vector<std::string> written_;
};

}  // namespace mmhook
