#pragma once
/// @file
/// `checkpoint_checksum`: the content digest a checkpoint carries in `meta["checksum"]`
/// (docs/design.md §A3), written by `serialize_checkpoint` and verified on load.

#include <string>

#include <ATen/core/ivalue.h>

namespace mmhook {

/// The checkpoint's content digest (64-bit FNV-1a over keys, scalars and tensor
/// dtype/shape/bytes in order, excluding `meta["checksum"]`) as 16 lowercase hex digits.
std::string checkpoint_checksum(const c10::IValue& dict);

}  // namespace mmhook
