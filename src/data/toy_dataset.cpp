#include "mmhook/data/toy_dataset.h"

#include <ATen/ops/tensor.h>

namespace mmhook {

ToyDataset::ToyDataset(int64_t num_samples) : num_samples_(num_samples) {
  MMHOOK_CHECK(num_samples > 0, "ToyDataset.num_samples must be > 0, got ", num_samples);
}

TensorDict ToyDataset::get(int64_t index, uint64_t /*sample_seed*/) const {
  MMHOOK_CHECK(index >= 0 && index < num_samples_, "ToyDataset: index ", index,
               " out of range [0, ", num_samples_, ")");
  // Computed in double and rounded once, as Python's `torch.tensor([i / N, 1 - i / N])` does.
  const double x = static_cast<double>(index) / static_cast<double>(num_samples_);
  TensorDict out;
  out.set("inputs", at::tensor({static_cast<float>(x), static_cast<float>(1.0 - x)}, at::kFloat));
  out.set("targets", at::tensor({1.0f}, at::kFloat));
  return out;
}

}  // namespace mmhook
