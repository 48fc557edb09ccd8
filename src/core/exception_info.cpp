#include "mmhook/core/exception_info.h"

#include <new>
#include <stdexcept>

#include <c10/util/Exception.h>

namespace mmhook {
namespace {

ExceptionInfo make(Code code, const char* message) noexcept {
  ExceptionInfo out;
  out.code = code;
  try {
    out.message = message;
  } catch (...) {  // out of memory: the code still says what happened
  }
  return out;
}

}  // namespace

ExceptionInfo describe_exception(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return make(e.code(), e.what());
  } catch (const c10::Error& e) {
    return make(Code::kTorch, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return make(Code::kOom, "out of memory");
  } catch (const std::invalid_argument& e) {
    return make(Code::kInvalidArgument, e.what());
  } catch (const std::out_of_range& e) {
    return make(Code::kInvalidArgument, e.what());
  } catch (const std::exception& e) {
    return make(Code::kInternal, e.what());
  } catch (...) {
    return make(Code::kInternal, "unknown exception");
  }
}

}  // namespace mmhook
