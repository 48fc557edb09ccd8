#pragma once
/// @file
/// `sha256_hex`: the SHA-256 digest of a byte range as hex (CheckpointHook's published file
/// names).

#include <cstddef>
#include <string>

namespace mmhook {

/// SHA-256 of `size` bytes at `data`, as 64 lowercase hex digits (FIPS 180-4).
std::string sha256_hex(const void* data, size_t size);

}  // namespace mmhook
