#pragma once
// Reading Python-written `torch.save` archives with LibTorch 1.13's C++ unpickler, which lacks
// what Python's pickler emits for one-item dicts and lists (SETITEM, APPEND) and for state dicts
// (`OrderedDict()` becomes None, BUILD of its `_metadata` fails). The pickle stream is
// rewritten into opcodes LibTorch handles before unpickling.

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace mmhook::detail {

/// Rewrites a protocol-2 pickle stream: `dict key value SETITEM` becomes
/// `dict MARK key value SETITEMS`, `list value APPEND` becomes `list MARK value APPENDS`,
/// `OrderedDict()` becomes an empty dict, and the state of a BUILD on such a dict (its
/// `_metadata`) is dropped. The whole stream is checked first: a malformed one (truncated, stack
/// underflow, GET of an unset memo slot, unknown opcode, no STOP) throws std::runtime_error
/// naming the reason, because LibTorch 1.13's unpickler does not check these. A valid stream
/// with opcodes not rewritten (FRAME, DUP, protocol-5 buffers) comes back unchanged.
std::string rewrite_pickle_for_libtorch(const std::string& pickle);

/// `torch::pickle_load` with the rewrite above, then every tensor checked to fit its storage
/// record; throws what LibTorch throws for a bad archive, std::runtime_error for the checks.
c10::IValue load_pickle_archive(const std::vector<char>& bytes);

}  // namespace mmhook::detail
