#include "mmhook/logging/history_buffer.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

struct StatisticRegistry {
  std::mutex mutex;
  std::map<std::string, HistoryBuffer::StatisticFn> fns;
};

StatisticRegistry& statistic_registry() {
  static StatisticRegistry* registry = new StatisticRegistry();
  return *registry;
}

}  // namespace

HistoryBuffer::HistoryBuffer(size_t max_length) : max_length_(max_length) {
  MMHOOK_CHECK(max_length > 0, "HistoryBuffer.max_length must be > 0, got ", max_length);
}

HistoryBuffer::HistoryBuffer(std::vector<double> log_history, std::vector<int64_t> count_history,
                             size_t max_length)
    : values_(std::move(log_history)), counts_(std::move(count_history)), max_length_(max_length) {
  MMHOOK_CHECK(max_length > 0, "HistoryBuffer.max_length must be > 0, got ", max_length);
  MMHOOK_CHECK(values_.size() == counts_.size(),
               "HistoryBuffer: log_history and count_history must have the same length, got ",
               values_.size(), " and ", counts_.size());
  if (values_.size() > max_length_) {
    head_ = values_.size() - max_length_;
    compact();
  }
}

void HistoryBuffer::update(double value, int64_t count) {
  values_.push_back(value);
  counts_.push_back(count);
  if (values_.size() - head_ > max_length_) {
    ++head_;
    if (head_ >= max_length_ && head_ >= 64) compact();
  }
}

void HistoryBuffer::compact() {
  values_.erase(values_.begin(), values_.begin() + static_cast<std::ptrdiff_t>(head_));
  counts_.erase(counts_.begin(), counts_.begin() + static_cast<std::ptrdiff_t>(head_));
  head_ = 0;
}

size_t HistoryBuffer::window_begin(int64_t window) const {
  const size_t n = size();
  if (window <= 0 || static_cast<size_t>(window) >= n) return head_;
  return values_.size() - static_cast<size_t>(window);
}

double HistoryBuffer::mean(int64_t window) const {
  double sum = 0.0;
  int64_t count = 0;
  for (size_t i = window_begin(window); i < values_.size(); ++i) {
    sum += values_[i];
    count += counts_[i];
  }
  return sum / static_cast<double>(count);
}

double HistoryBuffer::max(int64_t window) const {
  MMHOOK_CHECK_CODE(!empty(), Code::kFailedPrecondition, "HistoryBuffer.max: the buffer is empty");
  return *std::max_element(values_.begin() + static_cast<std::ptrdiff_t>(window_begin(window)),
                           values_.end());
}

double HistoryBuffer::min(int64_t window) const {
  MMHOOK_CHECK_CODE(!empty(), Code::kFailedPrecondition, "HistoryBuffer.min: the buffer is empty");
  return *std::min_element(values_.begin() + static_cast<std::ptrdiff_t>(window_begin(window)),
                           values_.end());
}

double HistoryBuffer::current() const {
  MMHOOK_CHECK_CODE(!empty(), Code::kFailedPrecondition,
                    "HistoryBuffer.current: the buffer is empty");
  return values_.back();
}

double HistoryBuffer::statistics(const std::string& method, int64_t window) const {
  if (method == "mean") return mean(window);
  if (method == "max") return max(window);
  if (method == "min") return min(window);
  if (method == "current") return current();
  StatisticFn fn;
  {
    auto& registry = statistic_registry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    auto it = registry.fns.find(method);
    if (it != registry.fns.end()) fn = it->second;
  }
  if (!fn) {
    MMHOOK_THROW(Code::kNotFound, "HistoryBuffer.statistics: unknown method '", method,
                 "' (known: mean, max, min, current and registered ones)");
  }
  return fn(*this, window);
}

void HistoryBuffer::register_statistics(const std::string& name, StatisticFn fn) {
  MMHOOK_CHECK(!name.empty() && fn,
               "HistoryBuffer.register_statistics needs a name and a function");
  MMHOOK_CHECK(name != "mean" && name != "max" && name != "min" && name != "current",
               "HistoryBuffer.register_statistics: '", name, "' is a built-in statistic");
  auto& registry = statistic_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.fns[name] = std::move(fn);
}

std::vector<double> HistoryBuffer::log_history() const {
  return std::vector<double>(values_.begin() + static_cast<std::ptrdiff_t>(head_), values_.end());
}

std::vector<int64_t> HistoryBuffer::count_history() const {
  return std::vector<int64_t>(counts_.begin() + static_cast<std::ptrdiff_t>(head_), counts_.end());
}

}  // namespace mmhook
