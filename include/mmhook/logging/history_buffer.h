#pragma once
/// @file
/// `HistoryBuffer`: MMEngine's bounded history of (value, count) pairs with windowed statistics.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mmhook {

/// Two parallel arrays (values and counts) holding at most `max_length` newest entries, with
/// the statistics MMEngine's LogProcessor asks for (`mean`, `max`, `min`, `current`).
/// A window `w > 0` covers the last `w` entries (all of them when fewer); `w <= 0` covers all.
class HistoryBuffer {
 public:
  /// A user statistic: computes a value from a buffer and a window (MMEngine's
  /// `HistoryBuffer.register_statistics`).
  using StatisticFn = std::function<double(const HistoryBuffer&, int64_t window)>;

  /// An empty buffer keeping at most `max_length` entries (default 1,000,000; must be > 0).
  explicit HistoryBuffer(size_t max_length = 1000000);
  /// A buffer holding the given histories (their lengths must match); only the newest
  /// `max_length` entries are kept.
  HistoryBuffer(std::vector<double> log_history, std::vector<int64_t> count_history,
                size_t max_length = 1000000);

  /// Appends one entry, dropping the oldest beyond `max_length`. Amortised O(1).
  void update(double value, int64_t count = 1);

  /// `sum(values[-w:]) / sum(counts[-w:])`; NaN when empty (like numpy).
  double mean(int64_t window = -1) const;
  /// Largest value of the last `window` entries; failed-precondition Error when empty.
  double max(int64_t window = -1) const;
  /// Smallest value of the last `window` entries; failed-precondition Error when empty.
  double min(int64_t window = -1) const;
  /// The newest value; failed-precondition Error when empty.
  double current() const;
  /// Dispatches to "mean", "max", "min", "current" (window ignored) or a registered statistic;
  /// not-found Error naming the method otherwise.
  double statistics(const std::string& method, int64_t window = -1) const;

  /// Registers (or replaces) a process-wide statistic callable through `statistics(name)`.
  static void register_statistics(const std::string& name, StatisticFn fn);

  /// Number of entries held.
  size_t size() const { return values_.size() - head_; }
  /// True when no entry is held.
  bool empty() const { return size() == 0; }
  /// Copy of the values, oldest first.
  std::vector<double> log_history() const;
  /// Copy of the counts, oldest first.
  std::vector<int64_t> count_history() const;
  /// The most entries kept.
  size_t max_length() const { return max_length_; }

  /// Pointer to the oldest held value (contiguous, `size()` values).
  const double* values_data() const { return values_.data() + head_; }
  /// Pointer to the oldest held count (contiguous, `size()` counts).
  const int64_t* counts_data() const { return counts_.data() + head_; }

 private:
  size_t window_begin(int64_t window) const;
  void compact();

  // Entries live in [head_, values_.size()); the dead prefix is dropped once it outgrows the
  // live part, which keeps update() amortised O(1) without a per-update erase.
  std::vector<double> values_;
  std::vector<int64_t> counts_;
  size_t head_ = 0;
  size_t max_length_;
};

}  // namespace mmhook
