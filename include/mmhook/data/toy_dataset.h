#pragma once
/// @file
/// `ToyDataset`: the deterministic test fixture of docs/design.md §A8.

#include "mmhook/data/dataset.h"

namespace mmhook {

/// Sample i of N has inputs = [i/N, 1 - i/N] (float32 [2]) and targets = [1.0] (float32 [1]).
class ToyDataset : public Dataset {
 public:
  /// `num_samples` (default 12) must be > 0.
  explicit ToyDataset(int64_t num_samples = 12);
  /// Number of samples.
  int64_t size() const override { return num_samples_; }
  /// Sample `index` (the seed is unused: no randomness).
  TensorDict get(int64_t index, uint64_t sample_seed) const override;

 private:
  int64_t num_samples_;
};

}  // namespace mmhook
