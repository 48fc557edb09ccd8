#pragma once
/// @file
/// A process-wide callback that receives every log record of every runner (the C ABI's
/// `mmh_log_set` routes records to the host through it).

#include <functional>
#include <memory>
#include <string>

namespace spdlog::sinks {
class sink;
}

namespace mmhook {

/// Receives (level, message): level is 10 debug, 20 info, 30 warning, 40 error (Python's).
using LogCallback = std::function<void(int level, const std::string& message)>;

/// Installs `callback` (an empty function removes it). Thread-safe. The callback runs with no
/// engine lock held, so it may call back into mmhook (create and run a runner, install another
/// callback); records produced while it runs on that thread are not passed to it again. The
/// previous callback is destroyed after the new one is installed, outside any lock; a call of
/// it still in progress on another thread keeps it alive until that call returns.
void set_log_callback(LogCallback callback);

/// The sink that forwards to the callback; runners add it to their loggers.
std::shared_ptr<spdlog::sinks::sink> host_log_sink();

}  // namespace mmhook
