#pragma once
/// @file
/// `checkpoint_checksum`: the content digest a checkpoint carries in `meta["checksum"]`
/// (docs/design.md §A3), written by `serialize_checkpoint` and verified on load.

#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/ivalue.h>

namespace mmhook {

/// How a checkpoint's `meta["checksum"]` was computed. Both run FNV-1a (64-bit) over a canonical
/// stream of the dict: keys, scalars, and each tensor's dtype, shape and data, in order,
/// without `meta["checksum"]` itself.
enum class ChecksumFormat : std::uint8_t {
  /// Tensor data byte by byte; written by mmhook 0.1 as 16 lowercase hex digits. Verified on
  /// load, no longer written.
  kFnv1a64,
  /// Tensor data as a 64-bit digest of 8-byte words in four lanes (any single changed word is
  /// always detected); written since 0.2 as `mmh64:` and 16 lowercase hex digits. About 13
  /// times faster on large tensors (12-13 GB/s against 0.9 GB/s; benchmarks/README.md).
  kMmh64,
};

/// The checkpoint's content digest in `format` (default: the one mmhook writes), as stored in
/// `meta["checksum"]`.
std::string checkpoint_checksum(const c10::IValue& dict,
                                ChecksumFormat format = ChecksumFormat::kMmh64);

/// The format of a stored checksum string, or nullopt when it is neither (`mmh64:` + 16 hex
/// digits, or 16 hex digits): a damaged or foreign checksum.
std::optional<ChecksumFormat> checksum_format(const std::string& stored);

}  // namespace mmhook
