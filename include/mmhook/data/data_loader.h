#pragma once
/// @file
/// `DataLoader`: batches from a dataset in sampler order, optionally prefetched by worker
/// threads, with exact sampler-level skipping for resume.
///
/// Guarantees: the batches are identical whatever `num_workers` is (workers prefetch in order);
/// an exception thrown by the dataset reaches the consumer in `next()` for the batch that
/// failed; destroying an iterator mid-pass stops and joins its workers.

#include <cstdint>
#include <functional>
#include <memory>

#include "mmhook/config/config_node.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/dataset.h"
#include "mmhook/data/sampler.h"

namespace mmhook {

/// One pass (or an endless stream) of batches.
class BatchIterator {
 public:
  virtual ~BatchIterator() = default;
  /// Writes the next batch and returns true; false at the end of the pass (never for an
  /// infinite sampler). Rethrows the dataset's error for a batch that failed to load.
  virtual bool next(TensorDict* batch) = 0;
};

/// Most loader worker threads (`num_workers`) one loader may start.
constexpr int64_t kMaxLoaderWorkers = 1024;
/// Largest `prefetch_factor` (batches in flight per worker).
constexpr int64_t kMaxPrefetchFactor = 1024;

/// Batches of `batch_size` samples drawn in sampler order.
class DataLoader {
 public:
  /// batch_size >= 1, num_workers in [0, kMaxLoaderWorkers], prefetch_factor in
  /// [1, kMaxPrefetchFactor] (batches in flight per worker). When a worker thread cannot be
  /// started (a process or memory limit), `iterate()` stops and joins the ones already started
  /// and throws an `Error` (code unavailable) naming which worker failed and why.
  DataLoader(std::shared_ptr<Dataset> dataset, std::shared_ptr<Sampler> sampler, int64_t batch_size,
             int64_t num_workers = 0, bool drop_last = false, int64_t prefetch_factor = 2);
  ~DataLoader();

  /// Batches per pass: ceil(sampler.size() / batch_size), or floor with drop_last.
  int64_t size() const;
  /// One pass over the sampler's current epoch (an endless stream for an infinite sampler),
  /// starting after `skip_batches` batches, which are skipped in the sampler, never loaded.
  std::unique_ptr<BatchIterator> iterate(int64_t skip_batches = 0);
  /// An endless stream for iteration-based training (MMEngine's _InfiniteDataloaderIterator):
  /// for a finite sampler, pass p uses `sampler.set_epoch(p)`; the stream starts at pass
  /// `skip_batches / size()` after `skip_batches % size()` batches, and `on_restart(p)` is called
  /// whenever a pass ends and pass p begins (MMEngine logs a warning there).
  std::unique_ptr<BatchIterator> iterate_infinite(
      int64_t skip_batches = 0, std::function<void(int64_t)> on_restart = nullptr);

  /// The dataset.
  Dataset& dataset() { return *dataset_; }
  /// The dataset (shared).
  const std::shared_ptr<Dataset>& dataset_ptr() const { return dataset_; }
  /// The sampler.
  Sampler& sampler() { return *sampler_; }
  /// Samples per batch.
  int64_t batch_size() const { return batch_size_; }
  /// Worker threads (0: load in the consumer's thread).
  int64_t num_workers() const { return num_workers_; }
  /// Whether a last incomplete batch is dropped.
  bool drop_last() const { return drop_last_; }

 private:
  std::shared_ptr<Dataset> dataset_;
  std::shared_ptr<Sampler> sampler_;
  int64_t batch_size_;
  int64_t num_workers_;
  bool drop_last_;
  int64_t prefetch_factor_;
};

/// Most samples a dataset may report (2^32): a sampler keeps one 8-byte index per sample, so
/// a larger size is an error from `build_data_loader` rather than an allocation failure.
constexpr int64_t kMaxDatasetSize = int64_t{1} << 32;

/// Builds a loader from MMEngine's dataloader config: "batch_size" (required), "num_workers"
/// (0), "drop_last" (false), "prefetch_factor" (2), "persistent_workers" and "pin_memory"
/// (accepted, no effect), "sampler" ({"type": "DefaultSampler" | "InfiniteSampler", "shuffle"
/// (true), "seed" (default `seed`), "round_up" (true, DefaultSampler)}), "dataset" (built by
/// `dataset_registry()`), "collate_fn" ({"type": "default_collate" | "pseudo_collate"}, both
/// stack tensors). Unknown keys, and a dataset size below 0 or above `kMaxDatasetSize`, are
/// config Errors naming the path.
std::shared_ptr<DataLoader> build_data_loader(const ConfigNode& cfg, uint64_t seed,
                                              int64_t rank = 0, int64_t world_size = 1);

}  // namespace mmhook
