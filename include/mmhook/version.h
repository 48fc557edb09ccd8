#pragma once
/// @file
/// mmhook's version (kept equal to the C ABI's MMH_VERSION_* and CMake's project version).

namespace mmhook {
/// Major version: changes with the SONAME on C ABI breaks.
constexpr int kVersionMajor = 0;
/// Minor version: additions.
constexpr int kVersionMinor = 2;
/// Patch version: fixes.
constexpr int kVersionPatch = 0;
/// "major.minor.patch".
constexpr const char* kVersionString = "0.2.0";
}  // namespace mmhook
