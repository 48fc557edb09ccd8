// docs/design.md §B7.1 and §B9 check 97.
#include <gtest/gtest.h>

#include <cmath>

#include "mmhook/core/error.h"
#include "mmhook/logging/history_buffer.h"

namespace mmhook {
namespace {

HistoryBuffer one_to_five() {
  HistoryBuffer buffer;
  for (int i = 1; i <= 5; ++i) buffer.update(i);
  return buffer;
}

TEST(HistoryBufferTest, DefaultMaxLengthIsOneMillion) {
  HistoryBuffer buffer;
  EXPECT_EQ(buffer.max_length(), 1000000u);
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(HistoryBufferTest, StatisticsOfOneToFive) {
  HistoryBuffer buffer = one_to_five();
  EXPECT_DOUBLE_EQ(buffer.mean(), 3.0);
  EXPECT_DOUBLE_EQ(buffer.min(), 1.0);
  EXPECT_DOUBLE_EQ(buffer.max(), 5.0);
  EXPECT_DOUBLE_EQ(buffer.current(), 5.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("mean"), 3.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("min"), 1.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("max"), 5.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("current"), 5.0);
}

TEST(HistoryBufferTest, MeanOverWindowIsWindowedSumOverCountSum) {
  HistoryBuffer buffer = one_to_five();
  EXPECT_DOUBLE_EQ(buffer.mean(2), 4.5);
  EXPECT_DOUBLE_EQ(buffer.mean(10), 3.0);  // window longer than the history: all of it
  EXPECT_DOUBLE_EQ(buffer.max(2), 5.0);
  EXPECT_DOUBLE_EQ(buffer.min(2), 4.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("min", 3), 3.0);

  // Values are sums over `count` samples: sum(vals[-w:]) / sum(counts[-w:]).
  HistoryBuffer counted({2.0, 6.0, 9.0}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(counted.mean(), 17.0 / 6.0);
  EXPECT_DOUBLE_EQ(counted.mean(2), 15.0 / 5.0);
  EXPECT_DOUBLE_EQ(counted.mean(10), 17.0 / 6.0);
}

TEST(HistoryBufferTest, OverflowKeepsNewestEntries) {
  HistoryBuffer buffer({1.0, 2.0, 3.0}, {1, 1, 1}, 2);
  EXPECT_EQ(buffer.log_history(), (std::vector<double>{2.0, 3.0}));
  for (int i = 4; i <= 1000; ++i) buffer.update(i, i);
  EXPECT_EQ(buffer.size(), 2u);
  EXPECT_EQ(buffer.log_history(), (std::vector<double>{999.0, 1000.0}));
  EXPECT_EQ(buffer.count_history(), (std::vector<int64_t>{999, 1000}));
  EXPECT_DOUBLE_EQ(buffer.mean(), 1.0);

  HistoryBuffer small(3);
  for (int i = 0; i < 10; ++i) small.update(i);
  EXPECT_EQ(small.log_history(), (std::vector<double>{7.0, 8.0, 9.0}));
  EXPECT_DOUBLE_EQ(small.min(), 7.0);
}

TEST(HistoryBufferTest, MismatchedLengthsRaise) {
  EXPECT_THROW(HistoryBuffer({1.0, 2.0}, {1}), Error);
  EXPECT_THROW(HistoryBuffer(0), Error);
}

TEST(HistoryBufferTest, EmptyBufferErrors) {
  HistoryBuffer buffer;
  try {
    buffer.current();
    FAIL() << "current() on an empty buffer must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kFailedPrecondition);
  }
  EXPECT_THROW(buffer.max(), Error);
  EXPECT_THROW(buffer.min(), Error);
  EXPECT_TRUE(std::isnan(buffer.mean()));
}

TEST(HistoryBufferTest, UnknownStatisticIsNotFound) {
  HistoryBuffer buffer = one_to_five();
  try {
    buffer.statistics("median");
    FAIL() << "unknown statistic must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_NE(std::string(e.what()).find("median"), std::string::npos);
  }
}

TEST(HistoryBufferTest, UserRegisteredStatisticIsCallableByName) {
  HistoryBuffer::register_statistics(
      "custom_statistics", [](const HistoryBuffer& b, int64_t w) { return b.max(w) - b.min(w); });
  HistoryBuffer buffer = one_to_five();
  EXPECT_DOUBLE_EQ(buffer.statistics("custom_statistics"), 4.0);
  EXPECT_DOUBLE_EQ(buffer.statistics("custom_statistics", 2), 1.0);
  EXPECT_THROW(HistoryBuffer::register_statistics("mean", nullptr), Error);
}

}  // namespace
}  // namespace mmhook
