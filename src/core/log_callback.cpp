#include "mmhook/core/log_callback.h"

#include <mutex>

#include <spdlog/sinks/sink.h>

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

// Set while this thread is inside the host's callback: records the callback itself causes
// (it may create and run a runner) go to the console and log file, not back into it.
thread_local bool t_in_callback = false;

// Not a base_sink: that holds its mutex while sink_it_ runs, and a host callback that logs
// (creates a runner, say) would then wait for that mutex forever. No lock is held while the
// callback runs; it works on its own copy of the callback, so a concurrent replacement cannot
// free it mid-call.
class HostSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    if (t_in_callback) return;
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
    struct InCallback {
      InCallback() { t_in_callback = true; }
      ~InCallback() { t_in_callback = false; }
    } in_callback;
    cb(level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush() override {}
  void set_pattern(const std::string& /*pattern*/) override {}  // the payload is passed as is
  void set_formatter(std::unique_ptr<spdlog::formatter> /*formatter*/) override {}
};

}  // namespace

void set_log_callback(LogCallback cb) {
  LogCallback previous;
  {
    std::lock_guard<std::mutex> lock(callback_mutex());
    previous = std::move(callback());
    callback() = std::move(cb);
  }
  // Destroyed unlocked: the previous callback's user data may run host code (a Rust Drop, a C
  // free function) that installs another callback.
  previous = nullptr;
}

std::shared_ptr<spdlog::sinks::sink> host_log_sink() {
  static std::shared_ptr<spdlog::sinks::sink> sink = std::make_shared<HostSink>();
  return sink;
}

}  // namespace mmhook
