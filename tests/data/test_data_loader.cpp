#include <gtest/gtest.h>
#include <torch/types.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "mmhook/data/data_loader.h"
#include "mmhook/data/toy_dataset.h"

namespace mmhook {
namespace {

// inputs = [index, seed % 1000003] with a delay that varies per index, so workers finish out of
// order; throws for `bad_index`.
class ProbeDataset : public Dataset {
 public:
  explicit ProbeDataset(int64_t n, int64_t bad_index = -1, int delay_us = 200)
      : n_(n), bad_(bad_index), delay_us_(delay_us) {}
  int64_t size() const override { return n_; }
  TensorDict get(int64_t index, uint64_t seed) const override {
    ++loads;
    if (delay_us_ > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us_ * ((index * 7) % 5)));
    if (index == bad_) MMHOOK_THROW(Code::kIo, "probe failure at index ", index);
    TensorDict out;
    out.set("inputs",
            torch::tensor({static_cast<double>(index), static_cast<double>(seed % 1000003)},
                          torch::kFloat64));
    out.set("targets", torch::tensor(index, torch::kInt64));
    return out;
  }
  mutable std::atomic<int64_t> loads{0};

 private:
  int64_t n_, bad_;
  int delay_us_;
};

std::vector<TensorDict> drain(BatchIterator& it, int64_t max = 1 << 20) {
  std::vector<TensorDict> out;
  TensorDict b;
  while (static_cast<int64_t>(out.size()) < max && it.next(&b)) out.push_back(b);
  return out;
}

void expect_same(const std::vector<TensorDict>& a, const std::vector<TensorDict>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].at("inputs"), b[i].at("inputs"))) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].at("targets"), b[i].at("targets"))) << "batch " << i;
  }
}

TEST(DataLoaderTest, ToyBatchesWithoutShuffle) {
  auto ds = std::make_shared<ToyDataset>();
  DataLoader loader(ds, std::make_shared<DefaultSampler>(12, false, 0), 3);
  EXPECT_EQ(loader.size(), 4);
  auto it = loader.iterate();
  auto batches = drain(*it);
  ASSERT_EQ(batches.size(), 4u);
  for (const auto& b : batches) {
    EXPECT_EQ(b.at("inputs").sizes(), (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(b.at("targets").sizes(), (std::vector<int64_t>{3, 1}));
  }
  EXPECT_FLOAT_EQ(batches[1].at("inputs")[0][0].item<float>(), 3.0f / 12.0f);
  EXPECT_FLOAT_EQ(batches[1].at("inputs")[0][1].item<float>(), 9.0f / 12.0f);
  TensorDict extra;
  EXPECT_FALSE(it->next(&extra));
  EXPECT_EQ(loader.sampler().position(), 12);
}

TEST(DataLoaderTest, LengthAndLastBatch) {
  auto ds = std::make_shared<ProbeDataset>(10, -1, 0);
  DataLoader keep(ds, std::make_shared<DefaultSampler>(10, false, 0), 3);
  EXPECT_EQ(keep.size(), 4);
  auto kb = drain(*keep.iterate());
  ASSERT_EQ(kb.size(), 4u);
  EXPECT_EQ(kb[3].at("targets").sizes(), (std::vector<int64_t>{1}));
  DataLoader drop(ds, std::make_shared<DefaultSampler>(10, false, 0), 3, 2, /*drop_last=*/true);
  EXPECT_EQ(drop.size(), 3);
  EXPECT_EQ(drain(*drop.iterate()).size(), 3u);
  DataLoader inf(ds, std::make_shared<InfiniteSampler>(10, true, 0), 3, 0, true);
  EXPECT_EQ(inf.size(), 3);
  EXPECT_EQ(drain(*inf.iterate(), 25).size(), 25u);  // never ends
}

TEST(DataLoaderTest, WorkersGiveTheSameBatches) {
  auto ds = std::make_shared<ProbeDataset>(50);
  for (bool infinite : {false, true}) {
    auto make_sampler = [&]() -> std::shared_ptr<Sampler> {
      if (infinite) return std::make_shared<InfiniteSampler>(50, true, 11);
      auto s = std::make_shared<DefaultSampler>(50, true, 11);
      s->set_epoch(2);
      return s;
    };
    DataLoader serial(ds, make_sampler(), 4, 0);
    auto expect = drain(*serial.iterate(), 30);
    for (int64_t workers : {1, 3, 8}) {
      DataLoader parallel(ds, make_sampler(), 4, workers, false, 2);
      expect_same(drain(*parallel.iterate(), 30), expect);
    }
  }
}

TEST(DataLoaderTest, SkipBatchesStartsMidPassWithoutLoading) {
  auto ds = std::make_shared<ProbeDataset>(20, -1, 0);
  auto sampler = std::make_shared<DefaultSampler>(20, true, 3);
  DataLoader loader(ds, sampler, 3, 2);
  auto full = drain(*loader.iterate());
  ASSERT_EQ(full.size(), 7u);
  ds->loads = 0;
  auto rest = drain(*loader.iterate(4));
  expect_same(rest, std::vector<TensorDict>(full.begin() + 4, full.end()));
  EXPECT_EQ(ds->loads.load(), 8);  // 20 - 4 * 3: the skipped samples were never loaded
  EXPECT_EQ(sampler->position(), 20);
  auto it = loader.iterate(2);
  EXPECT_EQ(sampler->position(), 6);
  TensorDict b;
  ASSERT_TRUE(it->next(&b));
  EXPECT_EQ(sampler->position(), 9);
}

TEST(DataLoaderTest, DatasetErrorsReachNext) {
  for (int64_t workers : {0, 3}) {
    auto ds = std::make_shared<ProbeDataset>(12, /*bad_index=*/5);
    DataLoader loader(ds, std::make_shared<DefaultSampler>(12, false, 0), 2, workers);
    auto it = loader.iterate();
    TensorDict b;
    ASSERT_TRUE(it->next(&b));
    ASSERT_TRUE(it->next(&b));
    try {
      it->next(&b);
      FAIL() << "expected the dataset's Error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kIo);
      EXPECT_NE(std::string(e.what()).find("probe failure at index 5"), std::string::npos);
    }
    // The pass goes on after the failed batch.
    ASSERT_TRUE(it->next(&b));
    EXPECT_EQ(b.at("targets")[0].item<int64_t>(), 6);
  }
}

TEST(DataLoaderTest, DestroyingAnIteratorMidPassStopsWorkers) {
  auto ds = std::make_shared<ProbeDataset>(1000, -1, 500);
  DataLoader loader(ds, std::make_shared<InfiniteSampler>(1000, true, 0), 8, 4, false, 4);
  for (int round = 0; round < 3; ++round) {
    auto it = loader.iterate();
    EXPECT_EQ(drain(*it, 2).size(), 2u);
  }  // each destructor joins 4 busy workers; the test would hang or crash otherwise
  const int64_t loaded = ds->loads.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ds->loads.load(), loaded);  // nothing keeps loading afterwards
}

TEST(DataLoaderTest, InfiniteIterationOverAFiniteSampler) {
  auto ds = std::make_shared<ProbeDataset>(7, -1, 0);
  auto sampler = std::make_shared<DefaultSampler>(7, true, 5);
  DataLoader loader(ds, sampler, 3, 2);  // 3 batches per pass
  std::vector<int64_t> restarts;
  auto it = loader.iterate_infinite(0, [&](int64_t e) { restarts.push_back(e); });
  auto stream = drain(*it, 8);
  EXPECT_EQ(restarts, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(sampler->epoch(), 2);
  // Pass p equals a plain pass at epoch p.
  std::vector<TensorDict> expect;
  for (int64_t e = 0; e < 3; ++e) {
    sampler->set_epoch(e);
    auto pass = drain(*loader.iterate());
    expect.insert(expect.end(), pass.begin(), pass.end());
  }
  expect.resize(8);
  expect_same(stream, expect);
  // Resuming at batch 4 continues the same stream.
  auto resumed = drain(*loader.iterate_infinite(4), 4);
  expect_same(resumed, std::vector<TensorDict>(expect.begin() + 4, expect.end()));
  EXPECT_EQ(sampler->epoch(), 2);
}

TEST(DataLoaderTest, BuildFromConfig) {
  nlohmann::json cfg = {{"batch_size", 3},
                        {"num_workers", 2},
                        {"persistent_workers", true},
                        {"pin_memory", false},
                        {"sampler", {{"type", "DefaultSampler"}, {"shuffle", true}}},
                        {"collate_fn", {{"type", "default_collate"}}},
                        {"dataset", {{"type", "ToyDataset"}, {"num_samples", 12}}}};
  auto loader = build_data_loader(ConfigNode(cfg, "train_dataloader"), 42);
  EXPECT_EQ(loader->size(), 4);
  EXPECT_EQ(loader->sampler().seed(), 42u);
  EXPECT_STREQ(loader->sampler().type(), "DefaultSampler");
  EXPECT_EQ(loader->num_workers(), 2);
  // The first sample is the first index of the seed-42 permutation.
  auto expect = DefaultSampler(12, true, 42).epoch_indices(0);
  TensorDict b;
  ASSERT_TRUE(loader->iterate()->next(&b));
  EXPECT_FLOAT_EQ(b.at("inputs")[0][0].item<float>(), static_cast<float>(expect[0] / 12.0));

  cfg["sampler"] = {{"type", "InfiniteSampler"}, {"seed", 7}, {"shuffle", false}};
  loader = build_data_loader(ConfigNode(cfg, "train_dataloader"), 42);
  EXPECT_TRUE(loader->sampler().infinite());
  EXPECT_EQ(loader->sampler().seed(), 7u);

  cfg["batch_sise"] = 3;
  try {
    build_data_loader(ConfigNode(cfg, "train_dataloader"), 0);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train_dataloader.batch_sise"), std::string::npos)
        << e.what();
  }
  cfg.erase("batch_sise");
  cfg["sampler"] = {{"type", "DefaultSamplr"}};
  try {
    build_data_loader(ConfigNode(cfg, "train_dataloader"), 0);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DefaultSampler"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmhook
