// Errors, versions and stage names of the C ABI.

#include <cstring>

#include "capi_internal.h"
#include "mmhook/core/exception_info.h"
#include "mmhook/version.h"

namespace mmhook::capi {

mmh_error_t* oom_error() noexcept {
  static mmh_error_t kOom{MMH_E_OOM, "out of memory"};
  return &kOom;
}

mmh_error_t* make_error(mmh_code_t code, const std::string& message) noexcept {
  try {
    return new mmh_error_t{code, message};
  } catch (...) {
    return oom_error();
  }
}

mmh_error_t* make_error(mmh_code_t code, const char* message) noexcept {
  try {
    return new mmh_error_t{code, message};
  } catch (...) {
    return oom_error();
  }
}

mmh_error_t* error_from_current_exception() noexcept {
  const ExceptionInfo info = describe_exception(std::current_exception());
  if (info.code == Code::kOom) return oom_error();
  return make_error(static_cast<mmh_code_t>(info.code), info.message);
}

bool is_utf8(const char* s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  while (*p != 0) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    unsigned cp = 0;
    unsigned min = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte without a lead, or 0xF8..0xFF
    }
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;  // also stops at the terminating NUL
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

size_t copy_out(const std::string& text, char* buf, size_t cap) noexcept {
  if (buf != nullptr && cap > 0) {
    const size_t n = text.size() < cap - 1 ? text.size() : cap - 1;
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return text.size();
}

mmh_error_t* null_argument(const char* what) noexcept {
  return make_error_with(MMH_E_INVALID_ARGUMENT, [&] { return std::string(what) + " is NULL"; });
}

mmh_error_t* check_out_buffer(const void* buf, size_t cap, const size_t* len_out) noexcept {
  if (len_out == nullptr) return null_argument("len_out");
  if (buf == nullptr && cap > 0)
    return make_error_with(MMH_E_INVALID_ARGUMENT, [&] {
      return "buf is NULL but cap is " + std::to_string(cap) +
             " (pass cap 0 to ask for the length only)";
    });
  return nullptr;
}

}  // namespace mmhook::capi

extern "C" {

uint32_t mmh_version_number(void) {
  return (MMH_VERSION_MAJOR << 16) | (MMH_VERSION_MINOR << 8) | MMH_VERSION_PATCH;
}

const char* mmh_version_string(void) {
  static_assert(MMH_VERSION_MAJOR == mmhook::kVersionMajor &&
                    MMH_VERSION_MINOR == mmhook::kVersionMinor &&
                    MMH_VERSION_PATCH == mmhook::kVersionPatch,
                "C and C++ versions must agree");
  return mmhook::kVersionString;
}

const char* mmh_stage_name(mmh_stage_t stage) {
  if (stage < 0 || stage >= MMH_STAGE_COUNT) return nullptr;
  // stage_name() views NUL-terminated literals.
  return mmhook::stage_name(static_cast<mmhook::Stage>(stage)).data();
}

mmh_code_t mmh_error_code(const mmh_error_t* err) { return err == nullptr ? MMH_OK : err->code; }

const char* mmh_error_message(const mmh_error_t* err) {
  return err == nullptr ? "" : err->message.c_str();
}

void mmh_error_free(mmh_error_t* err) {
  if (err == nullptr || err == mmhook::capi::oom_error()) return;
  delete err;
}

}  // extern "C"
