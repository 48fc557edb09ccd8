#pragma once
// The rewrite of a Python-written pickle stream into opcodes LibTorch 1.13's C++ unpickler
// handles (see pickle_compat.h for why), with the stream checked first.

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmhook::detail {

/// The n-byte little-endian number at p (n <= 8); the caller checks the bounds. Pickle
/// arguments and zip headers (pickle_compat.cpp) are both little-endian.
inline uint64_t load_le(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k);
  return v;
}

/// Rewrites a protocol-2 pickle stream: `dict key value SETITEM` becomes
/// `dict MARK key value SETITEMS`, `list value APPEND` becomes `list MARK value APPENDS`,
/// `OrderedDict()` becomes an empty dict, and the state of a BUILD on such a dict (its
/// `_metadata`) is dropped. The whole stream is checked first: a malformed one (truncated, stack
/// underflow, GET of an unset memo slot, unknown opcode, no STOP) throws std::runtime_error
/// naming the reason, because LibTorch 1.13's unpickler does not check these. A valid stream
/// with opcodes not rewritten (FRAME, DUP, protocol-5 buffers) comes back unchanged.
std::string rewrite_pickle_for_libtorch(const std::string& pickle);

}  // namespace mmhook::detail
