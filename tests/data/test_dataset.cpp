#include <gtest/gtest.h>
#include <torch/types.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "mmhook/data/dataset.h"
#include "mmhook/data/mnist.h"
#include "mmhook/data/toy_dataset.h"
#include "mmhook/data/transforms.h"

namespace mmhook {
namespace {

const std::shared_ptr<FashionMNIST>& fashion_train() {
  static auto ds = std::make_shared<FashionMNIST>(MNISTOptions{});
  return ds;
}

TEST(ToyDatasetTest, SamplesFollowSpecA8) {
  ToyDataset ds;
  ASSERT_EQ(ds.size(), 12);
  for (int64_t i = 0; i < 12; ++i) {
    TensorDict s = ds.get(i, 123);
    ASSERT_EQ(s.keys(), (std::vector<std::string>{"inputs", "targets"}));
    EXPECT_EQ(s.at("inputs").scalar_type(), torch::kFloat32);
    EXPECT_EQ(s.at("inputs").sizes(), (std::vector<int64_t>{2}));
    EXPECT_EQ(s.at("targets").sizes(), (std::vector<int64_t>{1}));
    EXPECT_FLOAT_EQ(s.at("inputs")[0].item<float>(), static_cast<float>(i / 12.0));
    EXPECT_FLOAT_EQ(s.at("inputs")[1].item<float>(), static_cast<float>(1.0 - i / 12.0));
    EXPECT_FLOAT_EQ(s.at("targets")[0].item<float>(), 1.0f);
  }
  EXPECT_THROW(ds.get(12, 0), Error);
  EXPECT_EQ(ToyDataset(5).size(), 5);
  EXPECT_THROW(ToyDataset(0), Error);
}

TEST(DatasetTest, DefaultGetBatchStacksSamples) {
  ToyDataset ds(4);
  TensorDict b = ds.get_batch({3, 1}, {0, 0});
  EXPECT_EQ(b.at("inputs").sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b.at("targets").sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(b.at("inputs")[0][0].item<float>(), 0.75f);
  EXPECT_FLOAT_EQ(b.at("inputs")[1][0].item<float>(), 0.25f);
}

TEST(DatasetTest, CollateRejectsMissingKey) {
  TensorDict a, b;
  a.set("inputs", torch::zeros({2}));
  b.set("other", torch::zeros({2}));
  try {
    default_collate({a, b});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'inputs'"), std::string::npos) << e.what();
  }
}

TEST(DatasetRegistryTest, BuildsBuiltins) {
  auto& r = dataset_registry();
  EXPECT_TRUE(r.contains("ToyDataset"));
  EXPECT_TRUE(r.contains("FashionMNIST"));
  EXPECT_TRUE(r.contains("MNIST"));
  auto ds = r.build(ConfigNode({{"type", "ToyDataset"}, {"num_samples", 6}}, "dataset"));
  EXPECT_EQ(ds->size(), 6);
  try {
    r.build(ConfigNode({{"type", "ToyDataset"}, {"num_sample", 6}}, "dataset"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset.num_sample"), std::string::npos) << e.what();
  }
}

TEST(FashionMNISTTest, TrainAndTestSets) {
  const auto& train = fashion_train();
  ASSERT_EQ(train->size(), 60000);
  TensorDict s = train->get(0, 0);
  EXPECT_EQ(s.at("inputs").sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(s.at("inputs").scalar_type(), torch::kFloat32);
  EXPECT_EQ(s.at("targets").dim(), 0);
  EXPECT_EQ(s.at("targets").scalar_type(), torch::kInt64);
  EXPECT_EQ(s.at("targets").item<int64_t>(), 9);  // Ankle boot
  EXPECT_EQ(train->get(1, 0).at("targets").item<int64_t>(), 0);
  EXPECT_EQ(train->get(3, 0).at("targets").item<int64_t>(), 3);
  // Pixel sum of image 0 is 76247 / 255; max is 255 / 255.
  EXPECT_NEAR(s.at("inputs").sum().item<double>(), 76247.0 / 255.0, 1e-3);
  EXPECT_FLOAT_EQ(s.at("inputs").max().item<float>(), 1.0f);
  // The cached float images replace the uint8 ones (one copy of the set in memory).
  EXPECT_FALSE(train->raw_images().defined());
  MNISTOptions uncached_options;
  uncached_options.cache_transformed = false;
  FashionMNIST uncached(uncached_options);
  ASSERT_TRUE(uncached.raw_images().defined());
  EXPECT_GE(uncached.raw_images().min().item<int64_t>(), 0);
  EXPECT_NEAR(uncached.raw_images().to(torch::kFloat64).mean().item<double>() / 255.0, 0.28604,
              1e-4);
  EXPECT_EQ(train->metainfo()["classes"].size(), 10u);
  EXPECT_EQ(train->metainfo()["classes"][9], "Ankle boot");

  MNISTOptions o;
  o.test_mode = true;
  FashionMNIST test(o);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.get(0, 0).at("targets").item<int64_t>(), 9);
  EXPECT_EQ(test.get(1, 0).at("targets").item<int64_t>(), 2);
}

TEST(FashionMNISTTest, RandomTransformsDependOnlyOnSeed) {
  MNISTOptions o;
  o.transforms = {std::make_shared<RandomCrop>(28, 28, 4), std::make_shared<RandomFlip>(0.5)};
  FashionMNIST ds(o);
  const at::Tensor a = ds.get(7, 1234).at("inputs");
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_TRUE(torch::equal(a, ds.get(7, 1234).at("inputs")));
  int differ = 0;
  for (uint64_t seed = 0; seed < 20; ++seed)
    differ += torch::equal(a, ds.get(7, seed).at("inputs")) ? 0 : 1;
  EXPECT_GE(differ, 15);
  // The crop only moves pixels (and pads with zeros): the pixel mass never grows.
  EXPECT_LE(a.sum().item<double>(), ds.raw_images()[7].sum().item<double>() / 255.0 + 1e-3);
}

TEST(FashionMNISTTest, NormalizedBatchEqualsPerSample) {
  MNISTOptions o;
  o.transforms = {
      std::make_shared<Normalize>(std::vector<double>{0.2860}, std::vector<double>{0.3530})};
  FashionMNIST ds(o);
  const std::vector<int64_t> idx = {5, 0, 59999};
  TensorDict fast = ds.get_batch(idx, {1, 2, 3});
  std::vector<TensorDict> samples;
  samples.reserve(idx.size());
  for (int64_t i : idx) samples.push_back(ds.get(i, 0));
  TensorDict slow = default_collate(samples);
  EXPECT_TRUE(torch::equal(fast.at("inputs"), slow.at("inputs")));
  EXPECT_TRUE(torch::equal(fast.at("targets"), slow.at("targets")));
  EXPECT_NEAR(ds.get(0, 0).at("inputs")[0][0][0].item<float>(), -0.2860 / 0.3530, 1e-6);

  // The transformed-once cache (the default) gives exactly what transforming each batch gives.
  MNISTOptions uncached_options = o;
  uncached_options.cache_transformed = false;
  FashionMNIST uncached(uncached_options);
  EXPECT_TRUE(torch::equal(uncached.get_batch(idx, {1, 2, 3}).at("inputs"), fast.at("inputs")));
  EXPECT_TRUE(torch::equal(uncached.get(59999, 0).at("inputs"), ds.get(59999, 0).at("inputs")));
  // The cache is built in chunks: every image, across chunk boundaries and the short last
  // chunk, equals the one transformed per batch.
  std::vector<int64_t> all(60000);
  for (int64_t i = 0; i < 60000; ++i) all[static_cast<size_t>(i)] = i;
  const std::vector<uint64_t> seeds(all.size(), 0);
  EXPECT_TRUE(torch::equal(uncached.get_batch(all, seeds).at("inputs"),
                           ds.get_batch(all, seeds).at("inputs")));
  // A sample is a copy: changing it leaves the cache alone.
  ds.get(5, 0).at("inputs").fill_(7.0f);
  EXPECT_TRUE(torch::equal(ds.get(5, 0).at("inputs"), uncached.get(5, 0).at("inputs")));
}

TEST(TransformTest, BuildFromConfig) {
  auto crop = build_transform(ConfigNode({{"type", "RandomCrop"}, {"size", 4}}, "t"));
  std::mt19937_64 rng(0);
  EXPECT_EQ(crop->apply(torch::ones({1, 6, 6}), rng).sizes(), (std::vector<int64_t>{1, 4, 4}));
  auto flip = build_transform(ConfigNode({{"type", "RandomFlip"}, {"prob", 1.0}}, "t"));
  at::Tensor x = torch::arange(3, torch::kFloat32).view({1, 1, 3});
  EXPECT_TRUE(torch::equal(flip->apply(x, rng), torch::tensor({2.f, 1.f, 0.f}).view({1, 1, 3})));
  EXPECT_THROW(build_transform(ConfigNode({{"type", "RandomCorp"}}, "t")), Error);
  EXPECT_THROW(build_transform(ConfigNode({{"type", "RandomFlip"}, {"p", 1.0}}, "t")), Error);
}

// --------------------------------------------------------------------------- bad files

class BadFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mmhook_mnist_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  static std::string header(uint32_t magic, const std::vector<uint32_t>& dims) {
    std::string s;
    auto put = [&](uint32_t v) {
      for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
    };
    put(magic);
    for (uint32_t d : dims) put(d);
    return s;
  }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << bytes;
  }
  void write_gz(const std::string& name, const std::string& bytes) {
    gzFile f = gzopen((dir_ + "/" + name).c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  }
  std::string load_error() {
    MNISTOptions o;
    o.data_root = dir_;
    try {
      FashionMNIST ds(o);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kIo);
      return e.what();
    }
    ADD_FAILURE() << "expected an Error";
    return "";
  }

  std::string dir_;
};

TEST_F(BadFilesTest, ReadsPlainAndGzippedFiles) {
  write("train-images-idx3-ubyte",
        header(0x803, {2, 2, 2}) + std::string("\x00\xff\x01\x02\x03\x04\x05\x06", 8));
  write_gz("train-labels-idx1-ubyte.gz", header(0x801, {2}) + std::string("\x04\x07", 2));
  MNISTOptions o;
  o.data_root = dir_;
  MNIST ds(o);
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.get(1, 0).at("targets").item<int64_t>(), 7);
  EXPECT_EQ(ds.get(0, 0).at("inputs").sizes(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_FLOAT_EQ(ds.get(0, 0).at("inputs")[0][0][1].item<float>(), 1.0f);
  EXPECT_EQ(ds.metainfo()["classes"][0], "0 - zero");
}

TEST_F(BadFilesTest, MissingFile) {
  const std::string msg = load_error();
  EXPECT_NE(msg.find(dir_ + "/train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(BadFilesTest, TruncatedFile) {
  write_gz("train-images-idx3-ubyte.gz", header(0x803, {3, 2, 2}) + std::string(5, '\x01'));
  write("train-labels-idx1-ubyte", header(0x801, {3}) + std::string(3, '\x01'));
  const std::string msg = load_error();
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST_F(BadFilesTest, BadMagic) {
  write("train-images-idx3-ubyte", header(0x801, {3}) + std::string(3, '\x01'));
  write("train-labels-idx1-ubyte", header(0x801, {3}) + std::string(3, '\x01'));
  const std::string msg = load_error();
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
}

TEST_F(BadFilesTest, CountMismatch) {
  write("train-images-idx3-ubyte", header(0x803, {2, 1, 1}) + std::string(2, '\x01'));
  write("train-labels-idx1-ubyte", header(0x801, {3}) + std::string(3, '\x01'));
  const std::string msg = load_error();
  EXPECT_NE(msg.find("count mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train-labels-idx1-ubyte"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mmhook
