#!/usr/bin/env bash
# The quick checks, run by scripts/run_tests.sh after the test suite (tidy reads the
# build's compile_commands.json). Each step runs even if an earlier one failed; the script
# fails if any did.
#   1. formatting      scripts/check_format.sh (clang-format, .clang-format)
#   2. API docs        scripts/build_docs.sh   (Doxygen: undocumented public API is an error)
#   3. versions        CMake project version == mmhook.h MMH_VERSION_* == version.h, SOVERSION == major
#   4. static analysis scripts/tidy.sh         (clang-tidy on the files changed since the merge
#                                               base with main, or by the last commit when on
#                                               main; at most 40 TUs; MMHOOK_SKIP_TIDY=1 skips)
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
  local name=$1
  shift
  echo "== run_checks: $name"
  if "$@"; then echo "== run_checks: $name passed"; else failed+=("$name"); echo "== run_checks: $name FAILED"; fi
}

check_versions() {
  local cmake header_maj header_min header_pat cpp_maj cpp_min cpp_pat cpp_str soversion
  cmake=$(sed -n 's/^project(mmhook VERSION \([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' CMakeLists.txt)
  soversion=$(sed -n 's/.*SOVERSION \([0-9]*\).*/\1/p' CMakeLists.txt | head -1)
  header_maj=$(sed -n 's/^#define MMH_VERSION_MAJOR \([0-9]*\).*/\1/p' capi/include/mmhook.h)
  header_min=$(sed -n 's/^#define MMH_VERSION_MINOR \([0-9]*\).*/\1/p' capi/include/mmhook.h)
  header_pat=$(sed -n 's/^#define MMH_VERSION_PATCH \([0-9]*\).*/\1/p' capi/include/mmhook.h)
  cpp_maj=$(sed -n 's/.*kVersionMajor = \([0-9]*\);.*/\1/p' include/mmhook/version.h)
  cpp_min=$(sed -n 's/.*kVersionMinor = \([0-9]*\);.*/\1/p' include/mmhook/version.h)
  cpp_pat=$(sed -n 's/.*kVersionPatch = \([0-9]*\);.*/\1/p' include/mmhook/version.h)
  cpp_str=$(sed -n 's/.*kVersionString = "\([^"]*\)";.*/\1/p' include/mmhook/version.h)
  local header="$header_maj.$header_min.$header_pat" cpp="$cpp_maj.$cpp_min.$cpp_pat"
  echo "CMakeLists.txt $cmake (SOVERSION $soversion), mmhook.h $header, version.h $cpp ($cpp_str)"
  [ -n "$cmake" ] && [ "$cmake" = "$header" ] && [ "$cmake" = "$cpp" ] && [ "$cmake" = "$cpp_str" ] &&
    [ "$soversion" = "${cmake%%.*}" ] || {
    echo "versions disagree: see docs/versioning.md (all must match; SOVERSION is the major)"
    return 1
  }
}

step format scripts/check_format.sh
step docs scripts/build_docs.sh
step versions check_versions
if [ "${MMHOOK_SKIP_TIDY:-0}" = 1 ]; then
  echo "== run_checks: tidy skipped (MMHOOK_SKIP_TIDY=1)"
else
  # Touched files only; a change touching more than 40 translation units (a reformat, a big
  # merge) would take too long on CI's cores and is skipped with a note.
  step tidy env TIDY_MAX_TUS="${TIDY_MAX_TUS:-40}" scripts/tidy.sh
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "run_checks: FAILED: ${failed[*]}"
  exit 1
fi
echo "run_checks: all checks passed"
