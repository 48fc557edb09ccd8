// NaiveVisualizationHook (docs/design.md §B4.9): every `interval` test iterations a PNG grid of the
// batch's images with true/predicted labels, green when right and red when wrong. The PNGs are
// read back with libpng and checked against the geometry documented in the header.

#include <gtest/gtest.h>
#include <png.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <torch/types.h>

#include "mmhook/config/config_node.h"
#include "mmhook/data/dataset.h"
#include "mmhook/hooks/naive_visualization_hook.h"
#include "mmhook/model/base_model.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

// A PNG read back as 8-bit RGB.
RgbImage read_png(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return {};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  RgbImage img;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    std::fclose(f);
    ADD_FAILURE() << "libpng could not read " << path;
    return {};
  }
  png_init_io(png, f);
  png_read_info(png, info);
  EXPECT_EQ(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
  EXPECT_EQ(png_get_bit_depth(png, info), 8);
  img.width = png_get_image_width(png, info);
  img.height = png_get_image_height(png, info);
  img.pixels.resize(static_cast<size_t>(img.width * img.height * 3));
  for (int64_t y = 0; y < img.height; ++y) png_read_row(png, img.at(0, y), nullptr);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  std::fclose(f);
  return img;
}

bool is(const uint8_t* p, const std::array<uint8_t, 3>& c) {
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

struct Counts {
  int64_t green = 0, red = 0, white = 0, other = 0;  // other: non-black, none of the three
};
Counts count(const RgbImage& img, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  Counts c;
  for (int64_t y = y0; y < y0 + h; ++y)
    for (int64_t x = x0; x < x0 + w; ++x) {
      const uint8_t* p = img.at(x, y);
      if (is(p, kVisGreen)) {
        ++c.green;
      } else if (is(p, kVisRed)) {
        ++c.red;
      } else if (is(p, kVisWhite)) {
        ++c.white;
      } else if (p[0] || p[1] || p[2]) {
        ++c.other;
      }
    }
  return c;
}

TensorDict batch_of(at::Tensor inputs, at::Tensor targets) {
  TensorDict d;
  d.set("inputs", std::move(inputs));
  d.set("targets", std::move(targets));
  return d;
}
TensorDict outputs_of(at::Tensor logits) {
  TensorDict d;
  d.set("outputs", std::move(logits));
  return d;
}

// Three 4x5 grey images of values 0.2, 0.4, 0.6; targets 0, 1, 2; predictions 0, 2, 2.
TensorDict three_images() {
  at::Tensor x = torch::ones({3, 1, 4, 5});
  for (int64_t i = 0; i < 3; ++i) x[i] *= 0.2 * static_cast<double>(i + 1);
  return batch_of(x, torch::tensor({0, 1, 2}, torch::kLong));
}
TensorDict three_logits() {
  return outputs_of(torch::tensor({{5.f, 1.f, 0.f}, {0.f, 1.f, 3.f}, {0.f, 0.f, 9.f}}));
}

TEST(NaiveVisualizationHookTest, GridGeometryPixelsAndLabelColours) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  NaiveVisualizationHook hook;
  hook.after_test_iter(runner, 0, three_images(), three_logits());
  const std::string path = runner.log_dir() + "/vis_data/test_iter_1.png";
  ASSERT_TRUE(fs::exists(path));
  ASSERT_EQ(hook.written(), std::vector<std::string>{path});
  const RgbImage img = read_png(path);
  // 3 images -> 2 cols x 2 rows. cell_w = max(5*2, width("GT:0") = 4*8-2 = 30) = 30;
  // strip = 2 lines * 12 + 2 = 26; cell_h = 4*2 + 26 = 34.
  EXPECT_EQ(img.width, 2 * 30 + 3 * 2);
  EXPECT_EQ(img.height, 2 * 34 + 3 * 2);
  const int64_t cell_w = 30, cell_h = 34;
  const uint8_t grey[3] = {51, 102, 153};  // round(0.2/0.4/0.6 * 255)
  const bool correct[3] = {true, false, true};
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t x0 = 2 + (i % 2) * (cell_w + 2), y0 = 2 + (i / 2) * (cell_h + 2);
    const Counts strip = count(img, x0, y0 + 8, cell_w, 26);
    if (i == 3) {  // empty cell stays black
      const Counts all = count(img, x0, y0, cell_w, cell_h);
      EXPECT_EQ(all.green + all.red + all.white + all.other, 0);
      continue;
    }
    // The whole upscaled 10x8 image has the image's grey value, and nothing else does.
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 10; ++x)
        for (int k = 0; k < 3; ++k) ASSERT_EQ(img.at(x0 + x, y0 + y)[k], grey[i]) << i;
    EXPECT_EQ(img.at(x0 + 10, y0)[0], 0);
    if (correct[i]) {
      EXPECT_GT(strip.green, 0) << "image " << i;
      EXPECT_EQ(strip.red, 0) << "image " << i;
    } else {
      EXPECT_GT(strip.red, 0) << "image " << i;
      EXPECT_EQ(strip.green, 0) << "image " << i;
    }
    EXPECT_EQ(strip.white + strip.other, 0);
    // 'G' opens the first line: its top row is three lit font pixels (6x2 screen pixels),
    // 2 pixels under the image.
    const auto& c = correct[i] ? kVisGreen : kVisRed;
    for (int64_t x = 0; x < 6; ++x) EXPECT_TRUE(is(img.at(x0 + x, y0 + 8 + 2), c)) << i;
  }
  // The padding between cells is black.
  EXPECT_EQ(count(img, 0, 0, img.width, 2).green + count(img, 0, 0, img.width, 2).other, 0);
}

TEST(NaiveVisualizationHookTest, WritesOnlyEveryIntervalIterations) {
  TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  NaiveVisualizationHookOptions o;
  o.interval = 2;
  NaiveVisualizationHook hook(o);
  for (int64_t i = 0; i < 5; ++i) hook.after_test_iter(runner, i, three_images(), three_logits());
  const std::string vis = runner.log_dir() + "/vis_data";
  EXPECT_FALSE(fs::exists(vis + "/test_iter_1.png"));
  EXPECT_TRUE(fs::exists(vis + "/test_iter_2.png"));
  EXPECT_FALSE(fs::exists(vis + "/test_iter_3.png"));
  EXPECT_TRUE(fs::exists(vis + "/test_iter_4.png"));
  EXPECT_FALSE(fs::exists(vis + "/test_iter_5.png"));
  EXPECT_EQ(hook.written().size(), 2u);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(vis)) files += e.path().extension() == ".png";
  EXPECT_EQ(files, 2u);
}

TEST(NaiveVisualizationHookTest, DenormalisesRgbClampsAndHonoursMaxImages) {
  NaiveVisualizationHookOptions o;
  o.mean = {0.5, 0.5, 0.5};
  o.std = {0.25, 0.5, 0.1};
  o.max_images = 2;
  o.draw_gt = false;
  o.draw_pred = false;
  NaiveVisualizationHook hook(o);
  // Five 3x2 RGB images; pixel values (0.2, 0.4, 0.6) normalised, except image 1 which is far
  // out of range (clamped to 0 and 255).
  at::Tensor rgb = torch::tensor({0.2f, 0.4f, 0.6f}).view({1, 3, 1, 1}).expand({5, 3, 3, 2});
  at::Tensor mean = torch::tensor({0.5f, 0.5f, 0.5f}).view({1, 3, 1, 1});
  at::Tensor std = torch::tensor({0.25f, 0.5f, 0.1f}).view({1, 3, 1, 1});
  at::Tensor x = ((rgb - mean) / std).clone();
  x[1][0].fill_(100.f);
  x[1][1].fill_(-100.f);
  const RgbImage img = hook.render(x, at::Tensor(), at::Tensor());
  // 2 images (max_images) -> 2 cols x 1 row of 4x6 cells, no label strip.
  EXPECT_EQ(img.width, 2 * 4 + 3 * 2);
  EXPECT_EQ(img.height, 6 + 2 * 2);
  const uint8_t* p = img.at(2, 2);
  EXPECT_EQ(p[0], 51);
  EXPECT_EQ(p[1], 102);
  EXPECT_EQ(p[2], 153);
  const uint8_t* q = img.at(2 + 4 + 2 + 3, 2 + 5);
  EXPECT_EQ(q[0], 255);
  EXPECT_EQ(q[1], 0);
  EXPECT_EQ(q[2], 153);
}

TEST(NaiveVisualizationHookTest, LabelsWithoutPredictionsAreWhiteAndMissingTensorsAreErrors) {
  NaiveVisualizationHookOptions o;
  o.draw_pred = false;
  NaiveVisualizationHook gt_only(o);
  // 1 image of 2x2 with target 17 (float [B, 1] targets as ToyDataset has): one line "GT:17".
  const RgbImage img = gt_only.render(torch::zeros({1, 1, 2, 2}), torch::tensor({{17.f}}), {});
  EXPECT_EQ(img.width, (5 * 8 - 2) + 2 * 2);
  EXPECT_EQ(img.height, 2 * 2 + 12 + 2 + 2 * 2);
  const Counts c = count(img, 0, 0, img.width, img.height);
  EXPECT_GT(c.white, 0);
  EXPECT_EQ(c.green + c.red + c.other, 0);

  NaiveVisualizationHook both;
  try {
    both.render(torch::zeros({1, 1, 2, 2}), torch::tensor({1}), at::Tensor());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("draw_pred"), std::string::npos) << e.what();
  }
  try {
    both.render(torch::zeros({2, 2, 4, 4}), torch::tensor({1, 0}), torch::zeros({2, 3}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("[2, 2, 4, 4]"), std::string::npos) << e.what();
  }
  try {
    both.render(torch::zeros({2, 1, 4, 4}), torch::tensor({1, 0, 1}), torch::zeros({2, 3}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'targets'"), std::string::npos) << e.what();
  }
}

TEST(NaiveVisualizationHookTest, OptionErrorsNameHookOptionAndValue) {
  auto expect_error = [](const NaiveVisualizationHookOptions& o, const std::string& part) {
    try {
      NaiveVisualizationHook hook(o);
      ADD_FAILURE() << "expected an Error mentioning " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  NaiveVisualizationHookOptions o;
  o.interval = 0;
  expect_error(o, "NaiveVisualizationHook.interval must be > 0, got 0");
  o = {};
  o.max_images = -3;
  expect_error(o, "NaiveVisualizationHook.max_images must be > 0, got -3");
  o = {};
  o.mean = {0.5};
  expect_error(o, "NaiveVisualizationHook.mean and std must have the same length");
  o = {};
  o.mean = {0.5};
  o.std = {0.0};
  expect_error(o, "NaiveVisualizationHook.std must be > 0, got [0.000000]");
  o = {};
  o.mean = {0.1, 0.2};
  o.std = {1.0, 1.0};
  expect_error(o, "NaiveVisualizationHook.mean must have 1 or 3 values");
}

TEST(NaiveVisualizationHookTest, RegistryBuildsFromJsonAndNamesThePathOnErrors) {
  auto hook = hook_registry().build(ConfigNode({{"type", "NaiveVisualizationHook"},
                                                {"interval", 3},
                                                {"draw_gt", false},
                                                {"max_images", 8},
                                                {"mean", 0.5},
                                                {"std", 0.25}},
                                               "custom_hooks[0]"));
  auto* vis = dynamic_cast<NaiveVisualizationHook*>(hook.get());
  ASSERT_NE(vis, nullptr);
  EXPECT_EQ(vis->options().interval, 3);
  EXPECT_FALSE(vis->options().draw_gt);
  EXPECT_TRUE(vis->options().draw_pred);
  EXPECT_EQ(vis->options().max_images, 8);
  EXPECT_EQ(vis->options().mean, std::vector<double>{0.5});
  EXPECT_EQ(vis->options().std, std::vector<double>{0.25});

  try {
    hook_registry().build(
        ConfigNode({{"type", "NaiveVisualizationHook"}, {"interval", -1}}, "custom_hooks[0]"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    const std::string m = e.what();
    EXPECT_NE(m.find("custom_hooks[0]"), std::string::npos) << m;
    EXPECT_NE(m.find("NaiveVisualizationHook.interval must be > 0, got -1"), std::string::npos)
        << m;
  }
  try {
    hook_registry().build(
        ConfigNode({{"type", "NaiveVisualizationHook"}, {"mean", {0.5, 0.5, 0.5}}, {"std", "x"}},
                   "custom_hooks[0]"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig);
    EXPECT_NE(std::string(e.what()).find("custom_hooks[0].std"), std::string::npos) << e.what();
  }
  try {
    hook_registry().build(
        ConfigNode({{"type", "NaiveVisualizationHook"}, {"intervall", 2}}, "custom_hooks[0]"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("intervall"), std::string::npos) << e.what();
  }
}

TEST(NaiveVisualizationHookTest, UnwritablePathsAreIoErrorsNamingTheFile) {
  TempDir dir;
  RgbImage img;
  img.width = 2;
  img.height = 1;
  img.pixels.assign(6, 7);
  const std::string bad = dir / "missing_dir/x.png";
  try {
    write_png_rgb(bad, img);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  write_png_rgb(dir / "ok.png", img);
  const RgbImage back = read_png(dir / "ok.png");
  EXPECT_EQ(back.width, 2);
  EXPECT_EQ(back.height, 1);
  EXPECT_EQ(back.pixels, img.pixels);

  // vis_data exists as a plain file: the hook cannot create its directory.
  Runner runner(testing::epoch_config(dir / "work"));
  fs::create_directories(runner.log_dir());
  fs::remove_all(runner.log_dir() + "/vis_data");  // the runner may have made it already
  { std::ofstream(runner.log_dir() + "/vis_data") << "not a directory"; }
  ASSERT_TRUE(fs::is_regular_file(runner.log_dir() + "/vis_data")) << runner.log_dir();
  NaiveVisualizationHook hook;
  try {
    hook.after_test_iter(runner, 0, three_images(), three_logits());
    FAIL() << "expected an Error; wrote " << hook.written().at(0);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_NE(std::string(e.what()).find("vis_data"), std::string::npos) << e.what();
  }
}

// -- end to end: a test run over 12 grey 6x6 images (pixel (i+1)/16, target i % 3) and a model
// that always predicts class 0, batch 3 -> 4 test iterations.
class VisImages : public Dataset {
 public:
  int64_t size() const override { return 12; }
  TensorDict get(int64_t index, uint64_t) const override {
    TensorDict d;
    d.set("inputs", torch::full({1, 6, 6}, static_cast<float>(index + 1) / 16.f));
    d.set("targets", torch::tensor(index % 3, torch::kLong));
    return d;
  }
};

class AlwaysZero : public BaseModel {
 public:
  AlwaysZero() : BaseModel("AlwaysZero") { w_ = register_parameter("w", torch::zeros({1})); }
  TensorDict forward_loss(const TensorDict& batch) override {
    TensorDict d;
    d.set("loss", (w_ * batch.at("inputs").mean()).sum());
    return d;
  }
  TensorDict forward_predict(const TensorDict& batch) override {
    const int64_t b = batch.at("inputs").size(0);
    at::Tensor logits = torch::zeros({b, 3}) + w_;
    logits.select(1, 0).add_(1.0);
    TensorDict d;
    d.set("outputs", logits);
    return d;
  }

 private:
  at::Tensor w_;
};

TEST(NaiveVisualizationHookTest, TestRunWritesLabelledGridsEveryInterval) {
  static bool registered = [] {
    dataset_registry().add("VisImages", [](const ConfigNode&) -> std::shared_ptr<Dataset> {
      return std::make_shared<VisImages>();
    });
    model_registry().add("AlwaysZero", [](const ConfigNode&) -> std::shared_ptr<BaseModel> {
      return std::make_shared<AlwaysZero>();
    });
    return true;
  }();
  (void)registered;
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["model"] = {{"type", "AlwaysZero"}};
  cfg["test_dataloader"]["dataset"] = {{"type", "VisImages"}};
  cfg["custom_hooks"] = {{{"type", "NaiveVisualizationHook"}, {"interval", 2}}};
  Runner runner(cfg);
  runner.test();
  const std::string vis = runner.log_dir() + "/vis_data";
  EXPECT_FALSE(fs::exists(vis + "/test_iter_1.png"));
  EXPECT_FALSE(fs::exists(vis + "/test_iter_3.png"));
  ASSERT_TRUE(fs::exists(vis + "/test_iter_4.png"));
  ASSERT_TRUE(fs::exists(vis + "/test_iter_2.png"));
  // Batch 2 holds samples 3, 4, 5: targets 0, 1, 2, all predicted 0 -> green, red, red.
  const RgbImage img = read_png(vis + "/test_iter_2.png");
  const int64_t cell_w = 30, cell_h = 12 + 26;  // max(12, width("GT:0")) ; 6*2 + strip
  EXPECT_EQ(img.width, 2 * cell_w + 3 * 2);
  EXPECT_EQ(img.height, 2 * cell_h + 3 * 2);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t x0 = 2 + (i % 2) * (cell_w + 2), y0 = 2 + (i / 2) * (cell_h + 2);
    const auto v = static_cast<uint8_t>(std::lround((i + 4) / 16.0 * 255.0));
    EXPECT_EQ(img.at(x0 + 11, y0 + 11)[1], v) << i;
    const Counts strip = count(img, x0, y0 + 12, cell_w, 26);
    EXPECT_EQ(strip.green > 0, i == 0) << i;
    EXPECT_EQ(strip.red > 0, i != 0) << i;
  }
}

}  // namespace
}  // namespace mmhook
