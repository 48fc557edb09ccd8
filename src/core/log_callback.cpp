#include "mmhook/core/log_callback.h"

#include <mutex>

#include <spdlog/sinks/base_sink.h>

namespace mmhook {
namespace {

std::mutex& callback_mutex() {
  static std::mutex m;
  return m;
}

LogCallback& callback() {
  static LogCallback cb;
  return cb;
}

class HostSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    LogCallback cb;
    {
      std::lock_guard<std::mutex> lock(callback_mutex());
      cb = callback();
    }
    if (!cb) return;
    int level = 20;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: level = 10; break;
      case spdlog::level::info: level = 20; break;
      case spdlog::level::warn: level = 30; break;
      default: level = 40; break;
    }
    cb(level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}
};

}  // namespace

void set_log_callback(LogCallback cb) {
  std::lock_guard<std::mutex> lock(callback_mutex());
  callback() = std::move(cb);
}

std::shared_ptr<spdlog::sinks::sink> host_log_sink() {
  static std::shared_ptr<spdlog::sinks::sink> sink = std::make_shared<HostSink>();
  return sink;
}

}  // namespace mmhook
