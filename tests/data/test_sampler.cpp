#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "mmhook/core/error.h"
#include "mmhook/data/sampler.h"

namespace mmhook {
namespace {

std::vector<int64_t> take(const Sampler& s, int64_t skip, int64_t n) {
  auto stream = s.indices(skip);
  std::vector<int64_t> out;
  SampleRef ref;
  while (static_cast<int64_t>(out.size()) < n && stream->next(&ref)) out.push_back(ref.index);
  return out;
}

std::vector<int64_t> all(const Sampler& s) { return take(s, 0, 1 << 30); }

// Reference orders from PyTorch 1.13:
// g = torch.Generator(); g.manual_seed(42); torch.randperm(10, generator=g)
TEST(DefaultSamplerTest, PermutationPerEpochMatchesPyTorch) {
  DefaultSampler s(10, /*shuffle=*/true, /*seed=*/42);
  EXPECT_EQ(s.size(), 10);
  EXPECT_FALSE(s.infinite());
  EXPECT_EQ(all(s), (std::vector<int64_t>{2, 6, 1, 8, 4, 5, 0, 9, 3, 7}));
  s.set_epoch(1);  // generator seeded with seed + epoch = 43
  EXPECT_EQ(all(s), (std::vector<int64_t>{8, 4, 9, 0, 5, 1, 6, 7, 2, 3}));
  s.set_epoch(0);
  EXPECT_EQ(all(s), (std::vector<int64_t>{2, 6, 1, 8, 4, 5, 0, 9, 3, 7}));
}

TEST(DefaultSamplerTest, NoShuffleIsSequential) {
  DefaultSampler s(5, false, 3);
  s.set_epoch(4);
  EXPECT_EQ(all(s), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(DefaultSamplerTest, ShardsAreDisjointAndCovering) {
  // round_up: 10 samples on 3 ranks -> 4 each, the permutation wrapped to 12 entries.
  std::vector<int64_t> merged;
  for (int64_t rank = 0; rank < 3; ++rank) {
    DefaultSampler s(10, true, 42, true, rank, 3);
    EXPECT_EQ(s.size(), 4);
    auto part = all(s);
    EXPECT_EQ(part.size(), 4u);
    merged.insert(merged.end(), part.begin(), part.end());
  }
  std::set<int64_t> distinct(merged.begin(), merged.end());
  EXPECT_EQ(distinct.size(), 10u);
  // Rank r takes positions r, r+3, r+6, r+9 of [perm..., perm[0], perm[1]].
  DefaultSampler r1(10, true, 42, true, 1, 3);
  EXPECT_EQ(all(r1), (std::vector<int64_t>{6, 4, 9, 2}));

  // Without round_up: sizes 4, 3, 3, exactly a partition.
  std::vector<int64_t> parts;
  for (int64_t rank = 0; rank < 3; ++rank) {
    DefaultSampler s(10, true, 42, false, rank, 3);
    EXPECT_EQ(s.size(), rank == 0 ? 4 : 3);
    auto p = all(s);
    parts.insert(parts.end(), p.begin(), p.end());
  }
  std::sort(parts.begin(), parts.end());
  EXPECT_EQ(parts, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_THROW(DefaultSampler(10, true, 0, true, 3, 3), Error);
}

TEST(DefaultSamplerTest, SkipEqualsDroppingThePrefix) {
  DefaultSampler s(37, true, 5);
  s.set_epoch(3);
  const auto full = all(s);
  for (int64_t k : {0, 1, 17, 36, 37, 50}) {
    std::vector<int64_t> expect(full.begin() + std::min<int64_t>(k, 37), full.end());
    EXPECT_EQ(take(s, k, 1 << 30), expect) << "skip " << k;
  }
}

TEST(DefaultSamplerTest, SampleSeedsDependOnSeedEpochIndex) {
  DefaultSampler s(4, false, 9);
  auto stream = s.indices();
  SampleRef ref;
  ASSERT_TRUE(stream->next(&ref));
  EXPECT_EQ(ref.seed, sample_seed(9, 0, 0));
  s.set_epoch(1);
  auto stream1 = s.indices();
  ASSERT_TRUE(stream1->next(&ref));
  EXPECT_EQ(ref.seed, sample_seed(9, 1, 0));
  EXPECT_NE(sample_seed(9, 0, 0), sample_seed(9, 1, 0));
  EXPECT_NE(sample_seed(9, 0, 0), sample_seed(9, 0, 1));
  EXPECT_NE(sample_seed(9, 0, 0), sample_seed(10, 0, 0));
}

// g = torch.Generator(); g.manual_seed(7); randperm(5, g) twice: [0,1,3,2,4] then [3,4,1,2,0].
TEST(InfiniteSamplerTest, StreamContinuesAcrossPermutations) {
  InfiniteSampler s(5, true, 7);
  EXPECT_TRUE(s.infinite());
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(take(s, 0, 10), (std::vector<int64_t>{0, 1, 3, 2, 4, 3, 4, 1, 2, 0}));
  // set_epoch does not change the order (MMEngine's InfiniteSampler ignores it).
  s.set_epoch(3);
  EXPECT_EQ(take(s, 0, 10), (std::vector<int64_t>{0, 1, 3, 2, 4, 3, 4, 1, 2, 0}));
  const auto full = take(s, 0, 40);
  for (int64_t k : {1, 4, 5, 9, 23}) {
    EXPECT_EQ(take(s, k, 40 - k), std::vector<int64_t>(full.begin() + k, full.end())) << k;
  }
  // Rank 1 of 2 reads positions 1, 3, 5, ... of the same stream.
  InfiniteSampler r1(5, true, 7, 1, 2);
  EXPECT_EQ(take(r1, 0, 5), (std::vector<int64_t>{1, 2, 3, 1, 0}));
  EXPECT_EQ(take(r1, 2, 3), (std::vector<int64_t>{3, 1, 0}));
  InfiniteSampler seq(3, false, 0);
  EXPECT_EQ(take(seq, 2, 5), (std::vector<int64_t>{2, 0, 1, 2, 0}));
}

TEST(InfiniteSamplerTest, SampleSeedsUseThePassNumber) {
  InfiniteSampler s(2, false, 4);
  auto stream = s.indices(2);
  SampleRef ref;
  ASSERT_TRUE(stream->next(&ref));
  EXPECT_EQ(ref.index, 0);
  EXPECT_EQ(ref.seed, sample_seed(4, 1, 0));
}

TEST(SamplerStateTest, SaveAndRestore) {
  DefaultSampler a(10, true, 42);
  a.set_epoch(2);
  a.set_position(6);
  const nlohmann::json st = a.state_dict();
  EXPECT_EQ(st["type"], "DefaultSampler");
  EXPECT_EQ(st["seed"], 42);
  EXPECT_EQ(st["epoch"], 2);
  EXPECT_EQ(st["position"], 6);
  DefaultSampler b(10, true, 0);
  b.load_state_dict(st);
  EXPECT_EQ(b.seed(), 42u);
  EXPECT_EQ(b.epoch(), 2);
  EXPECT_EQ(b.position(), 6);
  EXPECT_EQ(take(b, b.position(), 10), take(a, 6, 10));
  InfiniteSampler c(10, true, 0);
  try {
    c.load_state_dict(st);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCheckpoint);
  }
}

}  // namespace
}  // namespace mmhook
