#include "mmhook/data/data_loader.h"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

namespace mmhook {
namespace {

struct LoaderParams {
  std::shared_ptr<Dataset> dataset;
  std::shared_ptr<Sampler> sampler;
  int64_t batch_size;
  int64_t num_workers;
  bool drop_last;
  int64_t prefetch_factor;
};

// One pass over an index stream. With workers, batch k is assigned to whichever worker is free,
// results are parked by k and handed out strictly in order, so the output equals the
// single-threaded one.
class PassIterator : public BatchIterator {
 public:
  PassIterator(const LoaderParams& p, int64_t skip_batches)
      : p_(p),
        stream_(p.sampler->indices(skip_batches * p.batch_size)),
        position_(skip_batches * p.batch_size) {
    p_.sampler->set_position(position_);
    workers_.reserve(static_cast<size_t>(p_.num_workers));
    for (int64_t i = 0; i < p_.num_workers; ++i) {
      try {
        workers_.emplace_back([this] { worker_loop(); });
      } catch (const std::system_error& e) {
        // The destructor does not run for a throwing constructor: the workers started so far
        // must be stopped and joined here, or their joinable threads would terminate the host.
        stop_workers();
        MMHOOK_THROW(Code::kUnavailable, "could not start loader worker ", i + 1, " of ",
                     p_.num_workers, ": ", e.code().message(),
                     " (lower num_workers, or raise the thread limit: ulimit -u, ulimit -v)");
      }
    }
  }

  ~PassIterator() override { stop_workers(); }

  bool next(TensorDict* batch) override {
    if (p_.num_workers == 0) return next_sync(batch);
    Result r;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] {
        return results_.count(next_out_) > 0 || (end_task_ >= 0 && next_out_ >= end_task_);
      });
      auto it = results_.find(next_out_);
      if (it == results_.end()) return false;
      r = std::move(it->second);
      results_.erase(it);
      ++next_out_;
    }
    cv_.notify_all();
    deliver(r.count);
    if (r.error) std::rethrow_exception(r.error);
    *batch = std::move(r.batch);
    return true;
  }

 private:
  struct Task {
    std::vector<int64_t> indices;
    std::vector<uint64_t> seeds;
  };
  struct Result {
    TensorDict batch;
    std::exception_ptr error;
    int64_t count = 0;
  };

  // Pulls the next batch's references; false at the end of the stream (or a short last batch
  // with drop_last).
  bool take(Task* task) {
    if (stream_done_) return false;
    task->indices.clear();
    task->seeds.clear();
    SampleRef ref;
    while (static_cast<int64_t>(task->indices.size()) < p_.batch_size && stream_->next(&ref)) {
      task->indices.push_back(ref.index);
      task->seeds.push_back(ref.seed);
    }
    const int64_t n = static_cast<int64_t>(task->indices.size());
    if (n < p_.batch_size) stream_done_ = true;
    return n > 0 && (n == p_.batch_size || !p_.drop_last);
  }

  void stop_workers() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void deliver(int64_t count) {
    position_ += count;
    p_.sampler->set_position(position_);
  }

  bool next_sync(TensorDict* batch) {
    // One task reused for the whole pass: no per-batch growth of its vectors.
    if (!take(&sync_task_)) return false;
    deliver(static_cast<int64_t>(sync_task_.indices.size()));
    *batch = p_.dataset->get_batch(sync_task_.indices, sync_task_.seeds);
    return true;
  }

  void worker_loop() {
    const int64_t capacity = p_.num_workers * p_.prefetch_factor;
    Task task;  // reused: take() clears it, the vectors keep their capacity
    for (;;) {
      int64_t id = 0;
      Result r;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock,
                 [&] { return stop_ || end_task_ >= 0 || next_task_ - next_out_ < capacity; });
        if (stop_ || end_task_ >= 0) return;
        try {
          if (!take(&task)) {
            end_task_ = next_task_;
            lock.unlock();
            cv_.notify_all();
            return;
          }
        } catch (...) {
          // A failing sampler ends the pass after reporting the error in order.
          r.error = std::current_exception();
          results_.emplace(next_task_, std::move(r));
          end_task_ = ++next_task_;
          lock.unlock();
          cv_.notify_all();
          return;
        }
        id = next_task_++;
      }
      r.count = static_cast<int64_t>(task.indices.size());
      try {
        r.batch = p_.dataset->get_batch(task.indices, task.seeds);
      } catch (...) {
        r.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        results_.emplace(id, std::move(r));
      }
      cv_.notify_all();
    }
  }

  LoaderParams p_;
  Task sync_task_;  // num_workers == 0
  std::unique_ptr<IndexStream> stream_;
  bool stream_done_ = false;
  int64_t position_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Result> results_;
  int64_t next_task_ = 0;
  int64_t next_out_ = 0;
  int64_t end_task_ = -1;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// Pass after pass of a finite sampler, with sampler.set_epoch(pass) before each.
class RestartingIterator : public BatchIterator {
 public:
  RestartingIterator(const LoaderParams& p, int64_t batches_per_pass, int64_t skip_batches,
                     std::function<void(int64_t)> on_restart)
      : p_(p), on_restart_(std::move(on_restart)), pass_(skip_batches / batches_per_pass) {
    p_.sampler->set_epoch(pass_);
    current_ = std::make_unique<PassIterator>(p_, skip_batches % batches_per_pass);
  }
  bool next(TensorDict* batch) override {
    if (current_->next(batch)) return true;
    ++pass_;
    current_.reset();
    p_.sampler->set_epoch(pass_);
    if (on_restart_) on_restart_(pass_);
    current_ = std::make_unique<PassIterator>(p_, 0);
    MMHOOK_CHECK_CODE(current_->next(batch), Code::kFailedPrecondition, "DataLoader: pass ", pass_,
                      " yielded no batch");
    return true;
  }

 private:
  LoaderParams p_;
  std::function<void(int64_t)> on_restart_;
  int64_t pass_;
  std::unique_ptr<PassIterator> current_;
};

}  // namespace

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, std::shared_ptr<Sampler> sampler,
                       int64_t batch_size, int64_t num_workers, bool drop_last,
                       int64_t prefetch_factor)
    : dataset_(std::move(dataset)),
      sampler_(std::move(sampler)),
      batch_size_(batch_size),
      num_workers_(num_workers),
      drop_last_(drop_last),
      prefetch_factor_(prefetch_factor) {
  MMHOOK_CHECK(dataset_ != nullptr, "DataLoader: dataset is null");
  MMHOOK_CHECK(sampler_ != nullptr, "DataLoader: sampler is null");
  MMHOOK_CHECK(batch_size > 0, "DataLoader.batch_size must be > 0, got ", batch_size);
  MMHOOK_CHECK(num_workers >= 0 && num_workers <= kMaxLoaderWorkers,
               "DataLoader.num_workers must be in [0, ", kMaxLoaderWorkers, "], got ", num_workers);
  MMHOOK_CHECK(prefetch_factor >= 1 && prefetch_factor <= kMaxPrefetchFactor,
               "DataLoader.prefetch_factor must be in [1, ", kMaxPrefetchFactor, "], got ",
               prefetch_factor);
}

DataLoader::~DataLoader() = default;

int64_t DataLoader::size() const {
  const int64_t n = sampler_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::unique_ptr<BatchIterator> DataLoader::iterate(int64_t skip_batches) {
  MMHOOK_CHECK(skip_batches >= 0, "DataLoader::iterate: skip_batches must be >= 0, got ",
               skip_batches);
  LoaderParams p{dataset_, sampler_, batch_size_, num_workers_, drop_last_, prefetch_factor_};
  return std::make_unique<PassIterator>(p, skip_batches);
}

std::unique_ptr<BatchIterator> DataLoader::iterate_infinite(
    int64_t skip_batches, std::function<void(int64_t)> on_restart) {
  if (sampler_->infinite()) return iterate(skip_batches);
  MMHOOK_CHECK(skip_batches >= 0, "DataLoader::iterate_infinite: skip_batches must be >= 0, got ",
               skip_batches);
  const int64_t per_pass = size();
  MMHOOK_CHECK_CODE(per_pass > 0, Code::kFailedPrecondition,
                    "DataLoader: cannot iterate endlessly over a pass with no batches (",
                    sampler_->size(), " samples, batch_size ", batch_size_,
                    drop_last_ ? ", drop_last" : "", ")");
  LoaderParams p{dataset_, sampler_, batch_size_, num_workers_, drop_last_, prefetch_factor_};
  return std::make_unique<RestartingIterator>(p, per_pass, skip_batches, std::move(on_restart));
}

std::shared_ptr<DataLoader> build_data_loader(const ConfigNode& cfg, uint64_t seed, int64_t rank,
                                              int64_t world_size) {
  const int64_t batch_size = cfg.require<int64_t>("batch_size");
  const int64_t num_workers = cfg.get<int64_t>("num_workers", 0);
  const bool drop_last = cfg.get<bool>("drop_last", false);
  const int64_t prefetch_factor = cfg.get<int64_t>("prefetch_factor", 2);
  cfg.get<bool>("persistent_workers", false);
  cfg.get<bool>("pin_memory", false);
  if (batch_size <= 0) cfg.fail("batch_size", "must be > 0, got " + std::to_string(batch_size));
  if (num_workers < 0 || num_workers > kMaxLoaderWorkers)
    cfg.fail("num_workers", "must be in [0, " + std::to_string(kMaxLoaderWorkers) + "], got " +
                                std::to_string(num_workers));
  if (prefetch_factor < 1 || prefetch_factor > kMaxPrefetchFactor)
    cfg.fail("prefetch_factor", "must be in [1, " + std::to_string(kMaxPrefetchFactor) + "], got " +
                                    std::to_string(prefetch_factor));

  if (cfg.has("collate_fn")) {
    const ConfigNode collate = cfg.child("collate_fn");
    const std::string type = collate.type();
    if (type != "default_collate" && type != "pseudo_collate") {
      const std::string hint = did_you_mean(type, {"default_collate", "pseudo_collate"});
      collate.fail("type", "unknown collate_fn type '" + type + "'" +
                               (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    collate.check_unused();
  } else {
    cfg.mark_used("collate_fn");
  }

  if (!cfg.has("dataset")) cfg.fail("dataset", "required key is missing");
  std::shared_ptr<Dataset> dataset = dataset_registry().build(cfg.child("dataset"));
  // A dataset's size comes from a file header or a C/Rust/Go len() callback: checked before a
  // sampler sizes its index vectors by it.
  const int64_t n = dataset->size();
  if (n < 0) cfg.fail("dataset", "reports a negative size (" + std::to_string(n) + ")");
  if (n > kMaxDatasetSize)
    cfg.fail("dataset", "reports " + std::to_string(n) + " samples, more than the limit of " +
                            std::to_string(kMaxDatasetSize) +
                            " (the sampler keeps one 8-byte index per sample)");

  const ConfigNode scfg = cfg.child("sampler");
  const std::string stype = scfg.has("type") ? scfg.type() : std::string("DefaultSampler");
  scfg.mark_used("type");
  const bool shuffle = scfg.get<bool>("shuffle", true);
  const int64_t sampler_seed = scfg.get<int64_t>("seed", static_cast<int64_t>(seed));
  std::shared_ptr<Sampler> sampler;
  if (stype == "DefaultSampler") {
    const bool round_up = scfg.get<bool>("round_up", true);
    sampler = std::make_shared<DefaultSampler>(
        dataset->size(), shuffle, static_cast<uint64_t>(sampler_seed), round_up, rank, world_size);
  } else if (stype == "InfiniteSampler") {
    sampler = std::make_shared<InfiniteSampler>(
        dataset->size(), shuffle, static_cast<uint64_t>(sampler_seed), rank, world_size);
  } else {
    const std::string hint = did_you_mean(stype, {"DefaultSampler", "InfiniteSampler"});
    scfg.fail("type", "unknown sampler type '" + stype + "'" +
                          (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  scfg.check_unused();
  cfg.check_unused();
  return std::make_shared<DataLoader>(std::move(dataset), std::move(sampler), batch_size,
                                      num_workers, drop_last, prefetch_factor);
}

}  // namespace mmhook
