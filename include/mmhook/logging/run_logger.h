#pragma once
/// @file
/// `RunLogger`: a run's "mmengine" logger (MMEngine's `MMLogger`): the console, rank 0's text log
/// `<log_dir>/<timestamp>.log` and the host's log callback, in MMEngine's line format. While it
/// lives it is spdlog's default logger, so code without a Runner logs into the run.

#include <memory>
#include <string>

namespace spdlog {
class logger;
namespace sinks {
class sink;
}  // namespace sinks
}  // namespace spdlog

namespace mmhook {

/// A run's logger and the write errors of its text log.
class RunLogger {
 public:
  /// Opens `<log_dir>/<timestamp>.log` on rank 0 (other ranks print errors only and keep no
  /// file, as MMEngine does). `level` is "DEBUG", "INFO", "WARNING" or "ERROR" (another name is an
  /// invalid-argument Error). Throws Error kIo naming the file when it cannot be opened.
  RunLogger(const std::string& log_dir, const std::string& timestamp, int rank,
            const std::string& level);
  /// Whether `level` is a name the constructor takes ("DEBUG", "INFO", "WARNING", "ERROR").
  static bool is_level_name(const std::string& level);
  /// Flushes, and gives spdlog back the default logger it had when this one was made.
  ~RunLogger();
  RunLogger(const RunLogger&) = delete;
  RunLogger& operator=(const RunLogger&) = delete;

  /// The logger.
  spdlog::logger& logger() const { return *logger_; }
  /// Rank 0's text log ("" on other ranks).
  const std::string& log_file() const { return log_file_; }
  /// Writes `text` to the text log alone, as an ERROR line (an error's long form, such as an
  /// interpreter traceback, that the console and the host should not get). Never throws.
  void write_to_file_only(const std::string& text) noexcept;
  /// Flushes, then throws Error kIo naming the text log and the system's reason when a write to
  /// it failed since the last check (spdlog itself only reports such failures).
  void check_errors();

 private:
  struct WriteErrors;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<spdlog::sinks::sink> file_sink_;
  std::string log_file_;
  std::shared_ptr<WriteErrors> errors_;
  std::shared_ptr<spdlog::logger> previous_default_;
};

}  // namespace mmhook
