#pragma once

/// @file
/// `DetailedError`: an `Error` whose message is one line for the caller and the console, with a
/// longer detail (an interpreter traceback, say) that the Runner writes to the log file only.

#include <string>
#include <utility>

#include "mmhook/core/error.h"

namespace mmhook {

/// An error with a one-line message and a detail meant for the log file, not the console.
class DetailedError : public Error {
 public:
  /// Creates an error with a category, its one-line message and the detail behind it.
  DetailedError(Code code, const std::string& message, std::string detail)
      : Error(code, message), detail_(std::move(detail)) {}
  /// The long form (several lines), kept out of the message.
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

}  // namespace mmhook
