#pragma once
/// @file
/// `MNIST` and `FashionMNIST`: the idx files (gzipped or plain) read into memory once.

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mmhook/data/dataset.h"
#include "mmhook/data/transforms.h"

namespace mmhook {

/// Options of the MNIST-format datasets.
struct MNISTOptions {
  /// Folder holding the idx files ("" means the dataset's default root).
  std::string data_root;
  /// false: train-images-idx3-ubyte / train-labels-idx1-ubyte; true: the t10k-* files.
  bool test_mode = false;
  /// Applied in order to each image ([1,28,28] in [0,1]).
  std::vector<std::shared_ptr<Transform>> transforms;
  /// When every transform is deterministic: transform all images once at load and keep them as
  /// float32 (4 bytes per pixel: 188 MB for Fashion-MNIST's training set, as the raw loop's
  /// in-memory set) instead of the uint8 images, so a batch is one index_select. false: keep
  /// the uint8 images and transform each batch. Values are the same either way.
  bool cache_transformed = true;
};

/// An MNIST-format image classification set: inputs float32 [1,H,W] scaled to [0,1] then
/// transformed, targets int64 scalars. Files are `<name>` or `<name>.gz` (plain preferred).
/// Unreadable files are Errors naming the file and the reason (missing, not a regular file,
/// truncated, bad magic, count mismatch, a label outside the class list naming the sample).
class MNIST : public Dataset {
 public:
  /// Default root of MNIST ("/usr/share/datasets/mnist").
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/mnist";
  /// Loads the files of `options` (empty data_root: `kDefaultRoot`).
  explicit MNIST(MNISTOptions options);
  /// Number of samples.
  int64_t size() const override;
  /// Sample `index`.
  TensorDict get(int64_t index, uint64_t sample_seed) const override;
  /// Vectorised batch when all transforms are deterministic (same values as per-sample).
  TensorDict get_batch(const std::vector<int64_t>& indices,
                       const std::vector<uint64_t>& sample_seeds) const override;
  /// {"classes": [...]}.
  nlohmann::json metainfo() const override;
  /// All images, uint8 [N,1,H,W]; an undefined tensor when the transformed images are cached
  /// (`cache_transformed` with deterministic transforms), which replace them.
  const at::Tensor& raw_images() const { return images_; }
  /// All labels, int64 [N].
  const at::Tensor& raw_labels() const { return labels_; }

 protected:
  /// Loads from `options.data_root` or `default_root`, with `classes` as metainfo.
  MNIST(MNISTOptions options, const char* default_root, std::vector<std::string> classes);

 private:
  /// Fills transformed_ from images_ chunk by chunk, then drops images_.
  void cache_transformed_images();

  MNISTOptions options_;
  std::vector<std::string> classes_;
  at::Tensor images_;
  at::Tensor labels_;
  at::Tensor transformed_;  // float [N,1,H,W], with cache_transformed and deterministic transforms
  bool deterministic_ = true;
};

/// Fashion-MNIST (default root "/usr/share/datasets/fashion-mnist", Debian's
/// dataset-fashion-mnist); classes as torchvision/MMPretrain name them.
class FashionMNIST : public MNIST {
 public:
  /// Default root of Fashion-MNIST.
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
  /// Loads the files of `options` (empty data_root: `kDefaultRoot`).
  explicit FashionMNIST(MNISTOptions options);
};

/// Reads an idx file (gzipped or not) into a uint8 tensor of its dims; `expected_magic` is
/// 0x801 (labels) or 0x803 (images). Errors name the file and the reason. Only regular files are
/// read (see `mmhook/core/file_io.h`); the header fixes the exact content size, which may not
/// exceed 2^34 bytes of data, and a gzip stream that decompresses to more is refused.
at::Tensor read_idx_file(const std::string& path, uint32_t expected_magic);

}  // namespace mmhook
