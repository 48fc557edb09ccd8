#include "mmhook/data/sampler.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/randperm.h>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void check_rank(int64_t rank, int64_t world_size, const char* who) {
  MMHOOK_CHECK(world_size >= 1, who, ".world_size must be >= 1, got ", world_size);
  MMHOOK_CHECK(rank >= 0 && rank < world_size, who, ".rank must be in [0, ", world_size, "), got ",
               rank);
}

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)): the same order as PyTorch.
at::Tensor seeded_randperm(int64_t n, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randperm(n, gen, at::kLong);
}

class VectorStream : public IndexStream {
 public:
  VectorStream(std::vector<int64_t> indices, int64_t start, uint64_t seed, int64_t epoch)
      : indices_(std::move(indices)), pos_(start), seed_(seed), epoch_(epoch) {}
  bool next(SampleRef* out) override {
    if (pos_ >= static_cast<int64_t>(indices_.size())) return false;
    out->index = indices_[pos_++];
    out->seed = sample_seed(seed_, epoch_, out->index);
    return true;
  }

 private:
  std::vector<int64_t> indices_;
  int64_t pos_;
  uint64_t seed_;
  int64_t epoch_;
};

// One generator, permutation after permutation; this rank reads positions rank, rank + world...
class InfiniteStream : public IndexStream {
 public:
  InfiniteStream(int64_t n, bool shuffle, uint64_t seed, int64_t rank, int64_t world, int64_t skip)
      : n_(n),
        shuffle_(shuffle),
        seed_(seed),
        world_(world),
        gen_(at::make_generator<at::CPUGeneratorImpl>(seed)),
        global_(rank + skip * world) {}
  bool next(SampleRef* out) override {
    const int64_t pass = global_ / n_;
    while (pass_ < pass) {
      ++pass_;
      if (shuffle_) perm_ = at::randperm(n_, gen_, at::kLong);
    }
    const int64_t offset = global_ % n_;
    out->index = shuffle_ ? perm_.data_ptr<int64_t>()[offset] : offset;
    out->seed = sample_seed(seed_, pass_, out->index);
    global_ += world_;
    return true;
  }

 private:
  int64_t n_;
  bool shuffle_;
  uint64_t seed_;
  int64_t world_;
  at::Generator gen_;
  int64_t global_;
  int64_t pass_ = -1;
  at::Tensor perm_;
};

}  // namespace

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(epoch));
  return splitmix64(h ^ static_cast<uint64_t>(index));
}

nlohmann::json Sampler::state_dict() const {
  return {{"type", type()}, {"seed", seed_}, {"epoch", epoch_}, {"position", position_}};
}

void Sampler::load_state_dict(const nlohmann::json& state) {
  MMHOOK_CHECK_CODE(state.is_object(), Code::kCheckpoint, "sampler state must be an object, got ",
                    state.dump());
  try {
    const std::string t = state.at("type").get<std::string>();
    MMHOOK_CHECK_CODE(t == type(), Code::kCheckpoint, "sampler state is for a ", t,
                      ", this sampler is a ", type());
    seed_ = state.at("seed").get<uint64_t>();
    epoch_ = state.at("epoch").get<int64_t>();
    position_ = state.at("position").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    MMHOOK_THROW(Code::kCheckpoint, "bad sampler state ", state.dump(), ": ", e.what());
  }
}

DefaultSampler::DefaultSampler(int64_t dataset_size, bool shuffle, uint64_t seed, bool round_up,
                               int64_t rank, int64_t world_size)
    : Sampler(seed),
      dataset_size_(dataset_size),
      shuffle_(shuffle),
      round_up_(round_up),
      rank_(rank),
      world_size_(world_size) {
  MMHOOK_CHECK(dataset_size >= 0, "DefaultSampler: dataset size must be >= 0, got ", dataset_size);
  check_rank(rank, world_size, "DefaultSampler");
  if (round_up_) {
    num_samples_ = (dataset_size_ + world_size_ - 1) / world_size_;
    total_size_ = num_samples_ * world_size_;
  } else {
    num_samples_ = std::max<int64_t>(0, (dataset_size_ - rank_ + world_size_ - 1) / world_size_);
    total_size_ = dataset_size_;
  }
}

std::vector<int64_t> DefaultSampler::epoch_indices(int64_t epoch) const {
  std::vector<int64_t> out;
  if (dataset_size_ == 0) return out;
  at::Tensor perm;
  if (shuffle_) perm = seeded_randperm(dataset_size_, seed_ + static_cast<uint64_t>(epoch));
  const int64_t* p = shuffle_ ? perm.data_ptr<int64_t>() : nullptr;
  out.reserve(num_samples_);
  for (int64_t j = rank_; j < total_size_; j += world_size_) {
    const int64_t k = j % dataset_size_;
    out.push_back(p != nullptr ? p[k] : k);
  }
  return out;
}

std::unique_ptr<IndexStream> DefaultSampler::indices(int64_t skip) const {
  MMHOOK_CHECK(skip >= 0, "DefaultSampler: skip must be >= 0, got ", skip);
  return std::make_unique<VectorStream>(epoch_indices(epoch_), skip, seed_, epoch_);
}

InfiniteSampler::InfiniteSampler(int64_t dataset_size, bool shuffle, uint64_t seed, int64_t rank,
                                 int64_t world_size)
    : Sampler(seed),
      dataset_size_(dataset_size),
      shuffle_(shuffle),
      rank_(rank),
      world_size_(world_size) {
  MMHOOK_CHECK(dataset_size > 0, "InfiniteSampler: dataset size must be > 0, got ", dataset_size);
  check_rank(rank, world_size, "InfiniteSampler");
}

std::unique_ptr<IndexStream> InfiniteSampler::indices(int64_t skip) const {
  MMHOOK_CHECK(skip >= 0, "InfiniteSampler: skip must be >= 0, got ", skip);
  return std::make_unique<InfiniteStream>(dataset_size_, shuffle_, seed_, rank_, world_size_, skip);
}

}  // namespace mmhook
