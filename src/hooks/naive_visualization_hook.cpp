#include "mmhook/hooks/naive_visualization_hook.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <ATen/core/Tensor.h>
#include <ATen/ops/tensor.h>
#include <nlohmann/json.hpp>

#include "hooks/builtin_hooks.h"
#include "mmhook/config/config_node.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/runner.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

// ---------------------------------------------------------------------------- 3x5 bitmap font
// Each glyph is 5 rows of 3 bits (bit 2 = left column).
struct Glyph {
  char c;
  uint8_t rows[5];
};
constexpr Glyph kFont[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {':', {0, 2, 0, 2, 0}}, {'-', {0, 0, 7, 0, 0}},
    {'?', {7, 1, 3, 0, 2}}, {'G', {7, 4, 5, 5, 7}}, {'T', {7, 2, 2, 2, 2}}, {'P', {7, 5, 7, 4, 4}},
    {'R', {6, 5, 6, 5, 5}},
};

const Glyph& glyph(char c) {
  for (const auto& g : kFont)
    if (g.c == c) return g;
  return glyph('?');
}

constexpr int64_t kAdvance = 4 * kVisFontScale;

int64_t text_width(const std::string& s) {
  return s.empty() ? 0 : static_cast<int64_t>(s.size()) * kAdvance - kVisFontScale;
}

void draw_text(RgbImage& img, int64_t x0, int64_t y0, const std::string& s,
               const std::array<uint8_t, 3>& color) {
  for (size_t i = 0; i < s.size(); ++i) {
    const Glyph& g = glyph(s[i]);
    const int64_t gx = x0 + static_cast<int64_t>(i) * kAdvance;
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t c = 0; c < 3; ++c) {
        if (((g.rows[r] >> (2 - c)) & 1) == 0) continue;
        for (int64_t dy = 0; dy < kVisFontScale; ++dy)
          for (int64_t dx = 0; dx < kVisFontScale; ++dx) {
            uint8_t* p = img.at(gx + c * kVisFontScale + dx, y0 + r * kVisFontScale + dy);
            std::copy(color.begin(), color.end(), p);
          }
      }
  }
}

// ---------------------------------------------------------------------------- libpng writer
struct PngErr {
  char message[256];
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngErr*>(png_get_error_ptr(png));
  std::snprintf(err->message, sizeof(err->message), "%s", msg != nullptr ? msg : "unknown error");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// C-style on purpose: nothing with a destructor lives in this frame across setjmp/longjmp.
bool write_png_file(FILE* f, const uint8_t* rgb, png_uint_32 width, png_uint_32 height,
                    PngErr* err) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
  if (png == nullptr) {
    std::snprintf(err->message, sizeof(err->message), "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(err->message, sizeof(err->message), "png_create_info_struct failed");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (png_uint_32 y = 0; y < height; ++y)
    png_write_row(png, rgb + static_cast<size_t>(y) * width * 3);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// ---------------------------------------------------------------------------- tensor helpers
[[noreturn]] void bad_tensor(const std::string& what, const at::Tensor& t) {
  MMHOOK_THROW(Code::kInvalidArgument, "NaiveVisualizationHook: ", what, ", got shape ", t.sizes());
}

// Class indices [B] (long) from targets [B] / [B, 1] or logits [B, K] (argmax) / indices [B].
std::vector<int64_t> class_indices(const at::Tensor& t, int64_t batch, bool logits,
                                   const char* name) {
  at::Tensor x = t.detach().to(at::kCPU);
  if (logits && x.dim() == 2) {
    if (x.size(0) != batch || x.size(1) == 0)
      bad_tensor(std::string(name) + " must be [B, K] logits with B = " + std::to_string(batch), x);
    x = x.argmax(1);
  } else {
    if (x.numel() != batch)
      bad_tensor(std::string(name) +
                     " must hold one class index per image (B = " + std::to_string(batch) + ")",
                 x);
    x = x.reshape({batch});
    if (x.is_floating_point()) x = x.round();
  }
  x = x.to(at::kLong).contiguous();
  return std::vector<int64_t>(x.data_ptr<int64_t>(), x.data_ptr<int64_t>() + batch);
}

std::string join(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

void write_png_rgb(const std::string& path, const RgbImage& image) {
  MMHOOK_CHECK(image.width > 0 && image.height > 0 &&
                   image.pixels.size() == static_cast<size_t>(image.width * image.height * 3),
               "write_png_rgb: image of ", image.width, "x", image.height, " has ",
               image.pixels.size(), " bytes, not width * height * 3");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    MMHOOK_THROW(Code::kIo, "cannot open '", path, "' for writing: ", std::strerror(errno));
  PngErr err{};
  const bool ok = write_png_file(f, image.pixels.data(), static_cast<png_uint_32>(image.width),
                                 static_cast<png_uint_32>(image.height), &err);
  const bool flushed = std::fflush(f) == 0 && std::ferror(f) == 0;
  const int saved_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !flushed || !closed) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) fs::remove(path, ec);  // never a device or a link target
    MMHOOK_THROW(Code::kIo, "cannot write PNG '", path,
                 "': ", !ok ? std::string(err.message) : std::string(std::strerror(saved_errno)));
  }
}

NaiveVisualizationHook::NaiveVisualizationHook(NaiveVisualizationHookOptions options)
    : options_(std::move(options)) {
  MMHOOK_CHECK(options_.interval > 0, "NaiveVisualizationHook.interval must be > 0, got ",
               options_.interval);
  MMHOOK_CHECK(options_.max_images > 0, "NaiveVisualizationHook.max_images must be > 0, got ",
               options_.max_images);
  MMHOOK_CHECK(options_.mean.size() == options_.std.size(),
               "NaiveVisualizationHook.mean and std must have the same length, got mean ",
               join(options_.mean), " and std ", join(options_.std));
  MMHOOK_CHECK(options_.mean.empty() || options_.mean.size() == 1 || options_.mean.size() == 3,
               "NaiveVisualizationHook.mean must have 1 or 3 values, got ", join(options_.mean));
  for (double s : options_.std)
    MMHOOK_CHECK(s > 0 && std::isfinite(s), "NaiveVisualizationHook.std must be > 0, got ",
                 join(options_.std));
  for (double m : options_.mean)
    MMHOOK_CHECK(std::isfinite(m), "NaiveVisualizationHook.mean must be finite, got ",
                 join(options_.mean));
}

RgbImage NaiveVisualizationHook::render(const at::Tensor& inputs, const at::Tensor& targets,
                                        const at::Tensor& logits) const {
  MMHOOK_CHECK(inputs.defined(), "NaiveVisualizationHook: the batch has no 'inputs'");
  at::Tensor x = inputs.detach().to(at::kCPU, at::kFloat);
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3) || x.size(0) == 0 || x.size(2) == 0 ||
      x.size(3) == 0)
    bad_tensor("'inputs' must be images [B, C, H, W] with C 1 or 3, or [B, H, W]", inputs);
  const int64_t batch = x.size(0), channels = x.size(1), h = x.size(2), w = x.size(3);
  MMHOOK_CHECK(!options_.draw_gt || targets.defined(),
               "NaiveVisualizationHook: draw_gt is true but the batch has no 'targets'");
  MMHOOK_CHECK(!options_.draw_pred || logits.defined(),
               "NaiveVisualizationHook: draw_pred is true but the outputs have no 'outputs'");
  std::vector<int64_t> gt, pred;
  if (targets.defined()) gt = class_indices(targets, batch, false, "'targets'");
  if (logits.defined()) pred = class_indices(logits, batch, true, "'outputs'");

  if (!options_.mean.empty()) {
    const auto n = static_cast<int64_t>(options_.mean.size());
    MMHOOK_CHECK(n == 1 || n == channels, "NaiveVisualizationHook: mean/std have ", n,
                 " values but the images have ", channels, " channels");
    auto opts = at::TensorOptions().dtype(at::kFloat);
    at::Tensor mean =
        at::tensor(std::vector<float>(options_.mean.begin(), options_.mean.end()), opts);
    at::Tensor std = at::tensor(std::vector<float>(options_.std.begin(), options_.std.end()), opts);
    x = x.mul(std.view({1, n, 1, 1})).add(mean.view({1, n, 1, 1}));
  }
  x = x.clamp(0.0, 1.0).mul(255.0).round().to(at::kByte);
  if (channels == 1) x = x.expand({batch, 3, h, w});
  x = x.permute({0, 2, 3, 1}).contiguous();  // [B, H, W, 3]
  const uint8_t* src = x.data_ptr<uint8_t>();

  const int64_t n = std::min(batch, options_.max_images);
  std::vector<std::string> gt_text(n), pred_text(n);
  int64_t lines = 0;
  if (options_.draw_gt) ++lines;
  if (options_.draw_pred) ++lines;
  int64_t cell_w = w * kVisScale;
  for (int64_t i = 0; i < n; ++i) {
    if (options_.draw_gt) gt_text[i] = "GT:" + std::to_string(gt[i]);
    if (options_.draw_pred) pred_text[i] = "PR:" + std::to_string(pred[i]);
    cell_w = std::max({cell_w, text_width(gt_text[i]), text_width(pred_text[i])});
  }
  const int64_t strip = lines > 0 ? lines * kVisLineHeight + kVisPad : 0;
  const int64_t cell_h = h * kVisScale + strip;
  const auto cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int64_t rows = (n + cols - 1) / cols;

  RgbImage img;
  img.width = cols * cell_w + (cols + 1) * kVisPad;
  img.height = rows * cell_h + (rows + 1) * kVisPad;
  img.pixels.assign(static_cast<size_t>(img.width * img.height * 3), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = kVisPad + (i % cols) * (cell_w + kVisPad);
    const int64_t y0 = kVisPad + (i / cols) * (cell_h + kVisPad);
    const uint8_t* im = src + i * h * w * 3;
    for (int64_t y = 0; y < h * kVisScale; ++y)
      for (int64_t xx = 0; xx < w * kVisScale; ++xx)
        std::copy_n(im + ((y / kVisScale) * w + xx / kVisScale) * 3, 3, img.at(x0 + xx, y0 + y));
    const bool known = !gt.empty() && !pred.empty();
    const auto& color = !known ? kVisWhite : (gt[i] == pred[i] ? kVisGreen : kVisRed);
    int64_t ty = y0 + h * kVisScale + 2;
    if (options_.draw_gt) {
      draw_text(img, x0, ty, gt_text[i], color);
      ty += kVisLineHeight;
    }
    if (options_.draw_pred) draw_text(img, x0, ty, pred_text[i], color);
  }
  return img;
}

void NaiveVisualizationHook::after_test_iter(Runner& runner, int64_t batch_idx,
                                             const TensorDict& data_batch,
                                             const TensorDict& outputs) {
  if (!every_n_inner_iters(batch_idx, options_.interval)) return;
  const at::Tensor* inputs = data_batch.find("inputs");
  MMHOOK_CHECK(inputs != nullptr, "NaiveVisualizationHook: the batch has no 'inputs'");
  const at::Tensor* targets = data_batch.find("targets");
  const at::Tensor* logits = outputs.find("outputs");
  const RgbImage img = render(*inputs, targets != nullptr ? *targets : at::Tensor(),
                              logits != nullptr ? *logits : at::Tensor());
  const fs::path dir = fs::path(runner.log_dir()) / "vis_data";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create '", dir.string(), "': ", ec.message());
  const std::string path = (dir / ("test_iter_" + std::to_string(batch_idx + 1) + ".png")).string();
  write_png_rgb(path, img);
  written_.push_back(path);
}

void detail::register_naive_visualization_hook(Registry<Hook>& r) {
  r.add("NaiveVisualizationHook", [](const ConfigNode& cfg) -> std::shared_ptr<Hook> {
    NaiveVisualizationHookOptions o;
    o.interval = cfg.get<int64_t>("interval", o.interval);
    o.draw_gt = cfg.get<bool>("draw_gt", o.draw_gt);
    o.draw_pred = cfg.get<bool>("draw_pred", o.draw_pred);
    o.max_images = cfg.get<int64_t>("max_images", o.max_images);
    for (const char* key : {"mean", "std"}) {
      auto& v = std::string(key) == "mean" ? o.mean : o.std;
      const nlohmann::json j = cfg.get<nlohmann::json>(key, nlohmann::json());
      if (j.is_number()) {
        v = {j.get<double>()};
      } else if (!j.is_null()) {
        v = cfg.require<std::vector<double>>(key);
      }
    }
    return std::make_shared<NaiveVisualizationHook>(o);
  });
}

}  // namespace mmhook
