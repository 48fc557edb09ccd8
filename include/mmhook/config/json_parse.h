#pragma once
/// @file
/// Reading config text. A config comes from a file, a `--cfg-options` value or a C caller's
/// string, so the reader is strict where nlohmann's default parser is lenient: a key written
/// twice in one object is an error naming its JSON path (the default keeps the last one in
/// silence), and nesting deeper than `kMaxConfigDepth` is refused while parsing, before a
/// recursive copy or comparison of the value could exhaust the stack of the host process.

#include <istream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mmhook {

/// Deepest nesting of objects and arrays a config may have (no real config needs more than a
/// dozen levels; each level costs stack in recursive copies, comparisons and dumps).
constexpr int kMaxConfigDepth = 256;

/// Parses JSON config text (comments allowed). `source` names the input in errors, e.g.
/// "config file 'a.json'" or "config_json". Throws a config `Error` for invalid JSON (with
/// nlohmann's line and column), a duplicate key (its JSON path), nesting deeper than
/// `kMaxConfigDepth` (the path where it happened), or a number out of double's range.
nlohmann::json parse_config_text(std::string_view text, const std::string& source);

/// Like `parse_config_text`, reading the whole stream.
nlohmann::json parse_config_stream(std::istream& in, const std::string& source);

/// Reads and parses a config file: a regular file of at most 64 MiB (a FIFO, a device such as
/// /dev/zero or a directory is an Error kIo naming the file and what it is), then as
/// `parse_config_text` with the source "config file '<path>'".
nlohmann::json parse_config_file(const std::string& path);

/// Throws a config `Error` naming the path when `value` nests objects/arrays deeper than
/// `max_depth` (a scalar has depth 0, `{}` and `[]` depth 1). Iterative: safe on any depth.
/// `what` prefixes the message ("config", "--cfg-options x").
void check_json_depth(const nlohmann::json& value, const std::string& what,
                      int max_depth = kMaxConfigDepth);

}  // namespace mmhook
