#pragma once
/// @file
/// Samplers: `DefaultSampler` and `InfiniteSampler`, as in MMEngine
/// (`mmengine/dataset/sampler.py`), with cheap skipping and a saveable state.
///
/// Contract: `indices(skip)` opens an independent stream of this rank's sample references for
/// the current epoch (for an infinite sampler: the endless stream), starting after `skip`
/// references; skipping costs no data loading (at most regenerating permutations). The stream
/// snapshots the sampler's seed and epoch, so changing them afterwards does not affect it.
/// Each reference carries the per-sample seed `sample_seed(seed, epoch_or_pass, index)`.

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmhook {

/// One sample to load: dataset index and the seed its random transforms draw from.
struct SampleRef {
  /// Dataset index.
  int64_t index = 0;
  /// Per-sample seed (a hash of sampler seed, epoch and index).
  uint64_t seed = 0;
};

/// A hash of (sampler seed, epoch, index): the per-sample augmentation seed.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

/// A one-way stream of sample references.
class IndexStream {
 public:
  virtual ~IndexStream() = default;
  /// Writes the next reference and returns true, or returns false at the end of the pass.
  virtual bool next(SampleRef* out) = 0;
};

/// Base class of samplers.
class Sampler {
 public:
  /// `seed` feeds the permutations and the per-sample seeds.
  explicit Sampler(uint64_t seed) : seed_(seed) {}
  virtual ~Sampler() = default;
  /// Indices per pass for this rank (InfiniteSampler: the dataset size, as MMEngine's len()).
  virtual int64_t size() const = 0;
  /// True when the stream never ends.
  virtual bool infinite() const = 0;
  /// Opens a stream for the current epoch that starts after `skip` references.
  virtual std::unique_ptr<IndexStream> indices(int64_t skip = 0) const = 0;
  /// Registered type name ("DefaultSampler").
  virtual const char* type() const = 0;

  /// Sets the epoch (DefaultSampler reshuffles with seed + epoch; InfiniteSampler ignores it
  /// for ordering, as MMEngine does). Resets the position to 0.
  virtual void set_epoch(int64_t epoch) {
    epoch_ = epoch;
    position_ = 0;
  }
  /// Current epoch.
  int64_t epoch() const { return epoch_; }
  /// Seed.
  uint64_t seed() const { return seed_; }
  /// References consumed in the current pass (infinite: in the whole stream); kept up to date by
  /// the data loader's iterators as batches are delivered.
  int64_t position() const { return position_; }
  /// Sets the consumed position (used by loaders and when resuming).
  void set_position(int64_t position) { position_ = position; }

  /// {"type", "seed", "epoch", "position"}.
  nlohmann::json state_dict() const;
  /// Restores seed, epoch and position; a different `type` is an Error.
  void load_state_dict(const nlohmann::json& state);

 protected:
  /// Seed of the shuffling generator.
  uint64_t seed_;
  /// Current epoch (reseeds the shuffle).
  int64_t epoch_ = 0;
  /// References consumed in the current pass.
  int64_t position_ = 0;
};

/// MMEngine's DefaultSampler: per epoch, a permutation of the dataset from a generator seeded
/// with `seed + epoch` (`torch.randperm`, same order as PyTorch), or 0..n-1 without shuffle;
/// with `round_up`, repeated to `ceil(n / world_size) * world_size`; then this rank takes
/// every `world_size`-th element starting at `rank`.
class DefaultSampler : public Sampler {
 public:
  /// Requires dataset_size >= 0, world_size >= 1, 0 <= rank < world_size.
  DefaultSampler(int64_t dataset_size, bool shuffle = true, uint64_t seed = 0, bool round_up = true,
                 int64_t rank = 0, int64_t world_size = 1);
  /// This rank's number of samples per epoch.
  int64_t size() const override { return num_samples_; }
  /// False.
  bool infinite() const override { return false; }
  /// This rank's references for the current epoch, after `skip`.
  std::unique_ptr<IndexStream> indices(int64_t skip = 0) const override;
  /// "DefaultSampler".
  const char* type() const override { return "DefaultSampler"; }
  /// This rank's full index list of `epoch` (for tests and tools).
  std::vector<int64_t> epoch_indices(int64_t epoch) const;

 private:
  int64_t dataset_size_;
  bool shuffle_;
  bool round_up_;
  int64_t rank_, world_size_;
  int64_t num_samples_, total_size_;
};

/// MMEngine's InfiniteSampler: one generator seeded with `seed` yields permutation after
/// permutation (or 0..n-1 repeated without shuffle); this rank takes every `world_size`-th
/// element of that endless stream starting at `rank`. Per-sample seeds use the pass number
/// (the permutation's ordinal) as the epoch.
class InfiniteSampler : public Sampler {
 public:
  /// Requires dataset_size > 0, world_size >= 1, 0 <= rank < world_size.
  InfiniteSampler(int64_t dataset_size, bool shuffle = true, uint64_t seed = 0, int64_t rank = 0,
                  int64_t world_size = 1);
  /// The dataset size (MMEngine's `len()`).
  int64_t size() const override { return dataset_size_; }
  /// True.
  bool infinite() const override { return true; }
  /// The endless stream of this rank, after `skip` references.
  std::unique_ptr<IndexStream> indices(int64_t skip = 0) const override;
  /// "InfiniteSampler".
  const char* type() const override { return "InfiniteSampler"; }

 private:
  int64_t dataset_size_;
  bool shuffle_;
  int64_t rank_, world_size_;
};

}  // namespace mmhook
