#pragma once
/// @file
/// `Dataset`: indexed samples with per-sample seeds, and the dataset registry.
///
/// Contract: `get()` and `get_batch()` are const and thread-safe (loader workers call them
/// concurrently). Any randomness (augmentation) is drawn only from the `sample_seed` argument,
/// so a sample is the same whichever thread loads it and whenever it is loaded.

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/config/registry.h"
#include "mmhook/core/tensor_dict.h"

namespace mmhook {

/// Base class of every dataset.
class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of samples.
  virtual int64_t size() const = 0;
  /// Sample `index` ("inputs", "targets"); random transforms draw only from `sample_seed`.
  virtual TensorDict get(int64_t index, uint64_t sample_seed) const = 0;
  /// A collated batch of samples; the default calls `get()` per sample and `default_collate`.
  /// Overrides must return exactly what the default would (they exist for speed).
  virtual TensorDict get_batch(const std::vector<int64_t>& indices,
                               const std::vector<uint64_t>& sample_seeds) const;
  /// Dataset meta information (e.g. {"classes": [...]}); copied to evaluators.
  virtual nlohmann::json metainfo() const { return nlohmann::json::object(); }
};

/// Stacks each key's tensors along a new first dimension (PyTorch's `default_collate` for
/// tensor dicts). Every sample must have the same keys; throws an Error naming a missing key.
TensorDict default_collate(const std::vector<TensorDict>& samples);

/// The dataset registry; builtins ("ToyDataset", "FashionMNIST", "MNIST") are registered on the
/// first call.
Registry<Dataset>& dataset_registry();

}  // namespace mmhook
