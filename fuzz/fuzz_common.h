// Shared by the libFuzzer targets in fuzz/ (see fuzz/README.md).
#pragma once

#include <mmhook/core/error.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>

namespace mmhook::fuzz {

/// Runs `body`; an mmhook::Error (of `code` when given, naming `name` when not empty) is the
/// expected way to reject an input. Any other exception aborts with its type and message, so
/// libFuzzer records the input as a crash.
template <class Body>
void expect_mmhook_error(std::optional<Code> code, const std::string& name, Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (code && e.code() != *code) {
      std::fprintf(stderr, "fuzz: mmhook::Error of code %d, expected %d: %s\n",
                   static_cast<int>(e.code()), static_cast<int>(*code), what.c_str());
      std::abort();
    }
    if (!name.empty() && what.find(name) == std::string::npos) {
      std::fprintf(stderr, "fuzz: the error does not name '%s': %s\n", name.c_str(), what.c_str());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
}

/// A per-process scratch folder under $TMPDIR (or /tmp), created once.
std::string scratch_dir();
/// Replaces `path` with the bytes (aborts if it cannot: the harness itself failed).
void write_file(const std::string& path, const uint8_t* data, size_t size);

}  // namespace mmhook::fuzz
