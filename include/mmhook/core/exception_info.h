#pragma once
/// @file
/// One mapping from an exception to an error code and a one-line message, used wherever an
/// exception becomes an error report: the C ABI's returned errors, a failing hook's HookError
/// and the Runner's failure log.

#include <exception>
#include <string>

#include "mmhook/core/error.h"

namespace mmhook {

/// An exception's error code and message.
struct ExceptionInfo {
  Code code = Code::kInternal;  ///< the C ABI's code for it
  std::string message;          ///< what() without LibTorch's C++ backtrace
};

/// Maps `error`: an `Error` keeps its code; LibTorch's `c10::Error` is kTorch;
/// `std::bad_alloc` is kOom ("out of memory"); `std::invalid_argument` and `std::out_of_range`
/// (a caller's bad value) are kInvalidArgument; any other exception is kInternal. Never throws
/// (a message that cannot be copied comes back empty).
ExceptionInfo describe_exception(const std::exception_ptr& error) noexcept;

}  // namespace mmhook
