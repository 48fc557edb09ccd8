#pragma once
// Helpers shared by the metric tests: one-entry batches and outputs, the message and code of the
// Error a call throws, and a capture of the warnings logged meanwhile.

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"

namespace mmhook::test {

/// {key: t}.
inline TensorDict dict_of(const std::string& key, at::Tensor t) {
  TensorDict d;
  d.set(key, std::move(t));
  return d;
}

/// The Error `fn` throws (a test failure when it throws none or another type).
inline Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an mmhook::Error, got: " << e.what();
    return Error(Code::kInternal, e.what());
  }
  ADD_FAILURE() << "expected an mmhook::Error, nothing was thrown";
  return Error(Code::kOk, "");
}

/// True when `text` occurs in `haystack`.
inline bool has(const std::string& haystack, const std::string& text) {
  return haystack.find(text) != std::string::npos;
}

/// Captures what the default logger logs while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  /// True when a captured line contains `text`.
  bool contains(const std::string& text) const {
    for (const auto& line : sink_->last_formatted())
      if (has(line, text)) return true;
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace mmhook::test
