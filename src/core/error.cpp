#include "mmhook/core/error.h"

namespace mmhook {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kUnavailable: return "unavailable";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kOom: return "out_of_memory";
    case Code::kHookAborted: return "hook_aborted";
    case Code::kTorch: return "torch";
    case Code::kAbi: return "abi";
    case Code::kInternal: return "internal";
    case Code::kIo: return "io";
    case Code::kConfig: return "config";
    case Code::kCheckpoint: return "checkpoint";
    case Code::kDistributed: return "distributed";
    case Code::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace mmhook
