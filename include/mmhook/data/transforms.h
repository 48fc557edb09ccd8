#pragma once
/// @file
/// Image transforms for [C,H,W] float tensors, built from `type`-keyed config objects:
/// `{"type": "Normalize", "mean", "std"}` ((x - mean) / std on pixels already in [0,1]; numbers
/// or per-channel lists), `{"type": "RandomCrop", "size" | "crop_size", "padding" (default 0)}`
/// (zero padding on each side, then a uniformly placed crop),
/// `{"type": "RandomFlip", "prob" (default 0.5), "direction" ("horizontal" only)}`.

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mmhook/config/config_node.h"

namespace mmhook {

/// One image transform; `apply` is const and thread-safe.
class Transform {
 public:
  virtual ~Transform() = default;
  /// Transforms `image` ([C,H,W] float); random choices come from `rng` only.
  virtual at::Tensor apply(const at::Tensor& image, std::mt19937_64& rng) const = 0;
  /// True when the transform never draws from `rng`.
  virtual bool deterministic() const = 0;
};

/// (x - mean[c]) / std[c] per channel.
class Normalize : public Transform {
 public:
  /// `mean` and `std` hold one value or one per channel; std values must be > 0.
  Normalize(std::vector<double> mean, std::vector<double> std);
  /// Normalises `image` (any shape whose dim -3 is the channel; [C,H,W] or [N,C,H,W]).
  at::Tensor apply(const at::Tensor& image, std::mt19937_64& rng) const override;
  /// Always true.
  bool deterministic() const override { return true; }

 private:
  std::vector<double> mean_, std_;
};

/// Zero-pads by `padding` on each side, then crops a `height` x `width` window at a random
/// position (torchvision's RandomCrop with constant padding).
class RandomCrop : public Transform {
 public:
  /// Crop size and padding (>= 0).
  RandomCrop(int64_t height, int64_t width, int64_t padding = 0);
  /// Crops `image` ([C,H,W]).
  at::Tensor apply(const at::Tensor& image, std::mt19937_64& rng) const override;
  /// Always false.
  bool deterministic() const override { return false; }

 private:
  int64_t height_, width_, padding_;
};

/// Flips the image left-right with probability `prob`.
class RandomFlip : public Transform {
 public:
  /// `prob` in [0, 1].
  explicit RandomFlip(double prob = 0.5);
  /// Maybe flips `image` ([C,H,W]) along its last dimension.
  at::Tensor apply(const at::Tensor& image, std::mt19937_64& rng) const override;
  /// Always false.
  bool deterministic() const override { return false; }

 private:
  double prob_;
};

/// Builds one transform from its config object; unknown types are config Errors.
std::shared_ptr<Transform> build_transform(const ConfigNode& cfg);

/// Applies `transforms` in order, drawing from one generator seeded with `sample_seed`.
at::Tensor apply_transforms(const std::vector<std::shared_ptr<Transform>>& transforms,
                            const at::Tensor& image, uint64_t sample_seed);

}  // namespace mmhook
