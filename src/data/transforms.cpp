#include "mmhook/data/transforms.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/tensor.h>

#include "mmhook/core/error.h"

namespace mmhook {

Normalize::Normalize(std::vector<double> mean, std::vector<double> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  MMHOOK_CHECK(!mean_.empty() && !std_.empty(), "Normalize: mean and std must not be empty");
  for (double s : std_) MMHOOK_CHECK(s > 0, "Normalize.std must be > 0, got ", s);
}

at::Tensor Normalize::apply(const at::Tensor& image, std::mt19937_64& /*rng*/) const {
  MMHOOK_CHECK(image.dim() >= 3, "Normalize expects [C,H,W] images, got ", image.dim(), " dims");
  const int64_t c = image.size(-3);
  if (mean_.size() == 1 && std_.size() == 1) return image.sub(mean_[0]).div(std_[0]);
  MMHOOK_CHECK(static_cast<int64_t>(mean_.size()) == c && static_cast<int64_t>(std_.size()) == c,
               "Normalize: mean/std have ", mean_.size(), "/", std_.size(),
               " values for an image with ", c, " channels");
  auto opts = at::TensorOptions().dtype(image.dtype());
  at::Tensor m = at::tensor(mean_, at::kDouble).to(opts).view({c, 1, 1});
  at::Tensor s = at::tensor(std_, at::kDouble).to(opts).view({c, 1, 1});
  return image.sub(m).div(s);
}

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  MMHOOK_CHECK(height > 0 && width > 0, "RandomCrop.size must be > 0, got [", height, ", ", width,
               "]");
  MMHOOK_CHECK(padding >= 0, "RandomCrop.padding must be >= 0, got ", padding);
}

at::Tensor RandomCrop::apply(const at::Tensor& image, std::mt19937_64& rng) const {
  MMHOOK_CHECK(image.dim() == 3, "RandomCrop expects [C,H,W] images, got ", image.dim(), " dims");
  at::Tensor padded = padding_ > 0
                          ? at::constant_pad_nd(image, {padding_, padding_, padding_, padding_}, 0)
                          : image;
  const int64_t h = padded.size(1), w = padded.size(2);
  MMHOOK_CHECK(h >= height_ && w >= width_, "RandomCrop: crop [", height_, ", ", width_,
               "] is larger than the padded image [", h, ", ", w, "]");
  const int64_t top = std::uniform_int_distribution<int64_t>(0, h - height_)(rng);
  const int64_t left = std::uniform_int_distribution<int64_t>(0, w - width_)(rng);
  return padded.narrow(1, top, height_).narrow(2, left, width_).contiguous();
}

RandomFlip::RandomFlip(double prob) : prob_(prob) {
  MMHOOK_CHECK(prob >= 0.0 && prob <= 1.0, "RandomFlip.prob must be in [0, 1], got ", prob);
}

at::Tensor RandomFlip::apply(const at::Tensor& image, std::mt19937_64& rng) const {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  if (u < prob_) return image.flip({-1});
  return image;
}

std::shared_ptr<Transform> build_transform(const ConfigNode& cfg) {
  const std::string type = cfg.type();
  std::shared_ptr<Transform> out;
  auto numbers = [&](const char* key) {
    if (!cfg.has(key)) cfg.fail(key, "required key is missing");
    if (cfg.json().at(key).is_number()) return std::vector<double>{cfg.require<double>(key)};
    return cfg.require<std::vector<double>>(key);
  };
  if (type == "Normalize") {
    out = std::make_shared<Normalize>(numbers("mean"), numbers("std"));
  } else if (type == "RandomCrop") {
    const char* key = cfg.has("crop_size") ? "crop_size" : "size";
    cfg.mark_used("size");
    cfg.mark_used("crop_size");
    std::vector<int64_t> size;
    if (!cfg.has(key)) cfg.fail("size", "required key is missing");
    if (cfg.json().at(key).is_number()) {
      const int64_t s = cfg.require<int64_t>(key);
      size = {s, s};
    } else {
      size = cfg.require<std::vector<int64_t>>(key);
      if (size.size() != 2) cfg.fail(key, "expected an integer or [height, width]");
    }
    out = std::make_shared<RandomCrop>(size[0], size[1], cfg.get<int64_t>("padding", 0));
  } else if (type == "RandomFlip") {
    const std::string direction = cfg.get<std::string>("direction", "horizontal");
    if (direction != "horizontal")
      cfg.fail("direction", "only \"horizontal\" is supported, got \"" + direction + "\"");
    out = std::make_shared<RandomFlip>(cfg.get<double>("prob", 0.5));
  } else {
    const std::string hint = did_you_mean(type, {"Normalize", "RandomCrop", "RandomFlip"});
    cfg.fail("type", "unknown transform type '" + type + "'" +
                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  cfg.check_unused();
  return out;
}

at::Tensor apply_transforms(const std::vector<std::shared_ptr<Transform>>& transforms,
                            const at::Tensor& image, uint64_t sample_seed) {
  std::mt19937_64 rng(sample_seed);
  at::Tensor out = image;
  for (const auto& t : transforms) out = t->apply(out, rng);
  return out;
}

}  // namespace mmhook
