// Labels outside a built-in idx dataset's class list are refused when the dataset loads, naming
// the file, the sample and the value (not later as an index error inside a loss or metric).

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmhook/core/error.h"
#include "mmhook/data/mnist.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

std::string idx(uint32_t magic, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s;
  auto put = [&](uint32_t v) {
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return s + data;
}

// Writes a 3-sample set with `labels` and loads it as MNIST; the error text, or "" if it loads.
std::string load_with_labels(const TempDir& dir, const std::string& labels) {
  std::ofstream(dir / "train-images-idx3-ubyte", std::ios::binary)
      << idx(0x803, {3, 1, 1}, std::string("\x01\x02\x03", 3));
  std::ofstream(dir / "train-labels-idx1-ubyte", std::ios::binary) << idx(0x801, {3}, labels);
  MNISTOptions o;
  o.data_root = dir.path();
  try {
    MNIST ds(o);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    return e.what();
  }
  return "";
}

TEST(IdxLabelsTest, LabelOutsideTheClassesNamesFileSampleAndValue) {
  TempDir dir;
  const std::string msg = load_with_labels(dir, std::string("\x00\x09\xff", 3));
  EXPECT_NE(msg.find("cannot read dataset file " + (dir / "train-labels-idx1-ubyte") +
                     ": label 255 of sample 2 is out of range (10 classes: expected 0 to 9)"),
            std::string::npos)
      << msg;
}

TEST(IdxLabelsTest, FirstLabelPastTheLastClassIsRefused) {
  TempDir dir;
  const std::string msg = load_with_labels(dir, std::string("\x0a\x00\x00", 3));
  EXPECT_NE(msg.find("label 10 of sample 0 is out of range"), std::string::npos) << msg;
}

TEST(IdxLabelsTest, EveryClassIsAccepted) {
  TempDir dir;
  EXPECT_EQ(load_with_labels(dir, std::string("\x00\x05\x09", 3)), "");
}

}  // namespace
}  // namespace mmhook
