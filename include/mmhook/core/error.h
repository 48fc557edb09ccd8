#pragma once
/// @file
/// The one error type of mmhook and the checking macros that raise it.

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace mmhook {

/// Error categories; the numeric values equal the C ABI's `mmh_code_t` constants.
enum class Code : int32_t {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kUnavailable = 3,
  kFailedPrecondition = 4,
  kOom = 5,
  kHookAborted = 6,
  kTorch = 7,
  kAbi = 8,
  kInternal = 9,
  kIo = 10,
  kConfig = 11,
  kCheckpoint = 12,
  kDistributed = 13,
  kCancelled = 14,
};

/// Name of a code ("invalid_argument", ...).
const char* code_name(Code code) noexcept;

/// Every error mmhook raises. `what()` is the full message.
class Error : public std::runtime_error {
 public:
  /// Creates an error with a category and a message that states what was wrong.
  Error(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The error's category.
  Code code() const noexcept { return code_; }

 private:
  Code code_;
};

namespace detail {
/// Concatenates its arguments with `operator<<`.
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (void)(os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace mmhook

/// Throws `mmhook::Error(code, message parts...)`.
#define MMHOOK_THROW(code, ...) \
  throw ::mmhook::Error((code), ::mmhook::detail::str_cat(__VA_ARGS__))

/// Throws an invalid-argument `mmhook::Error` naming the rule when `cond` is false.
#define MMHOOK_CHECK(cond, ...)                                               \
  do {                                                                        \
    if (!(cond)) MMHOOK_THROW(::mmhook::Code::kInvalidArgument, __VA_ARGS__); \
  } while (0)

/// Like MMHOOK_CHECK with an explicit code.
#define MMHOOK_CHECK_CODE(cond, code, ...)          \
  do {                                              \
    if (!(cond)) MMHOOK_THROW((code), __VA_ARGS__); \
  } while (0)
