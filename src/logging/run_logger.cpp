#include "mmhook/logging/run_logger.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"
#include "mmhook/core/log_callback.h"

namespace mmhook {
namespace {

// Python's logging level names in MMEngine's format.
class LevelNameFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static const char* names[] = {"DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", ""};
    const char* n = names[static_cast<int>(msg.level)];
    dest.append(n, n + std::strlen(n));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelNameFlag>();
  }
};

std::unique_ptr<spdlog::formatter> mmengine_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<LevelNameFlag>('*').set_pattern("%Y/%m/%d %H:%M:%S - mmengine - %* - %v");
  return f;
}

// The `log_level` names a config may use (MMEngine's, from Python's logging).
struct LevelName {
  const char* name;
  spdlog::level::level_enum level;
};
constexpr LevelName kLevelNames[] = {{"DEBUG", spdlog::level::debug},
                                     {"INFO", spdlog::level::info},
                                     {"WARNING", spdlog::level::warn},
                                     {"ERROR", spdlog::level::err}};

spdlog::level::level_enum level_from_name(const std::string& level) {
  for (const auto& l : kLevelNames)
    if (level == l.name) return l.level;
  MMHOOK_THROW(Code::kInvalidArgument, "unknown log level '", level,
               "' (expected DEBUG, INFO, WARNING or ERROR)");
}

}  // namespace

// The first write error of the sinks: spdlog reports them to an error handler, from whichever
// thread logged.
struct RunLogger::WriteErrors {
  std::mutex mutex;
  std::string first;
  std::atomic<bool> failed{false};
};

bool RunLogger::is_level_name(const std::string& level) {
  for (const auto& l : kLevelNames)
    if (level == l.name) return true;
  return false;
}

RunLogger::RunLogger(const std::string& log_dir, const std::string& timestamp, int rank,
                     const std::string& level)
    : errors_(std::make_shared<WriteErrors>()) {
  const spdlog::level::level_enum threshold = level_from_name(level);
  auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  if (rank == 0) {
    log_file_ = log_dir + "/" + timestamp + ".log";
    std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
    try {
      file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file_, false);
    } catch (const spdlog::spdlog_ex& e) {  // names the file and the OS reason
      MMHOOK_THROW(Code::kIo, "work_dir: cannot open the log file: ", e.what());
    }
    file_sink_ = file;
    logger_ = std::make_shared<spdlog::logger>(
        "mmengine", spdlog::sinks_init_list{console, file, host_log_sink()});
  } else {
    console->set_level(spdlog::level::err);
    logger_ = std::make_shared<spdlog::logger>("mmengine",
                                               spdlog::sinks_init_list{console, host_log_sink()});
  }
  logger_->set_formatter(mmengine_formatter());
  logger_->set_level(threshold);
  logger_->flush_on(spdlog::level::warn);
  logger_->set_error_handler([errors = errors_](const std::string& message) {
    std::lock_guard<std::mutex> lock(errors->mutex);
    if (errors->failed.load(std::memory_order_relaxed)) return;
    errors->first = message;
    errors->failed.store(true, std::memory_order_release);
    std::fprintf(stderr, "mmhook: log write failed: %s\n", message.c_str());
  });
  previous_default_ = spdlog::default_logger();
  spdlog::set_default_logger(logger_);
}

RunLogger::~RunLogger() {
  try {
    logger_->flush();
    if (spdlog::default_logger() != logger_) return;  // another run's logger took over since
    std::shared_ptr<spdlog::logger> next = previous_default_;
    if (!next) next = spdlog::get("mmhook_default");
    if (!next) next = spdlog::stderr_logger_mt("mmhook_default");
    spdlog::set_default_logger(next);
  } catch (const std::exception&) {  // a destructor: a failed flush was reported already
  }
}

void RunLogger::write_to_file_only(const std::string& text) noexcept {
  if (!file_sink_) return;
  try {
    file_sink_->log(spdlog::details::log_msg(logger_->name(), spdlog::level::err, text));
    file_sink_->flush();
  } catch (const std::exception&) {  // the error being handled was logged (and reported) already
  }
}

void RunLogger::check_errors() {
  logger_->flush();
  if (!errors_->failed.load(std::memory_order_acquire)) return;
  std::string message;
  {
    std::lock_guard<std::mutex> lock(errors_->mutex);
    message = errors_->first;
    errors_->failed.store(false, std::memory_order_relaxed);  // reported once
  }
  MMHOOK_THROW(Code::kIo, "cannot write the text log '", log_file_, "': ", message);
}

}  // namespace mmhook
