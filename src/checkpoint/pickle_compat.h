#pragma once
// Reading Python-written `torch.save` archives with LibTorch 1.13's C++ unpickler, which lacks
// what Python's pickler emits for one-item dicts and lists (SETITEM, APPEND) and for state dicts
// (`OrderedDict()` becomes None, BUILD of its `_metadata` fails). The pickle stream is
// rewritten into opcodes LibTorch handles before unpickling (pickle_rewrite.h), and the archive
// is checked where LibTorch 1.13 does not check it (zip layout, tensor extents).

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace mmhook::detail {

/// `torch::pickle_load` with `rewrite_pickle_for_libtorch` (pickle_rewrite.h), then every tensor
/// checked to fit its storage record; throws what LibTorch throws for a bad archive,
/// std::runtime_error for the checks.
c10::IValue load_pickle_archive(const std::vector<char>& bytes);

}  // namespace mmhook::detail
