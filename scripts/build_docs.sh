#!/usr/bin/env bash
# Builds the API reference (Doxygen, settings in ./Doxyfile) from include/mmhook and
# capi/include into build/docs/html (or $1). Fails (exit 1), listing file:line, when a public
# declaration is undocumented or a comment is malformed. Needs doxygen (apt-get install doxygen).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/docs}"
command -v doxygen >/dev/null || { echo "build_docs: doxygen not found (apt-get install doxygen)" >&2; exit 2; }
mkdir -p "$out"
# Doxygen checks the members of a file only when the file itself is documented: every public
# header needs its `/// @file` block.
missing=$(find include/mmhook capi/include -name '*.h' -exec grep -L -E '^(///|/\*\*| \*) *[@\\]file' {} + | sort)
if [ -n "$missing" ]; then
  echo "build_docs: public headers without a /// @file comment:" >&2
  printf '%s\n' "$missing" | sed 's/^/  /' >&2
  exit 1
fi
version=$(sed -n 's/^project(mmhook VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
log="$out/doxygen-warnings.log"
if MMHOOK_DOCS_DIR="$out" MMHOOK_DOCS_VERSION="$version" doxygen Doxyfile >"$log" 2>&1 &&
   ! grep -q . "$log"; then
  echo "build_docs: $out/html/index.html (mmhook $version), no warnings"
  exit 0
fi
# Doxygen reports some entities once per place they appear; list each warning once.
echo "build_docs: doxygen reported problems ($(sort -u "$log" | wc -l)):" >&2
sed "s|^$(pwd)/||" "$log" | sort -u >&2
exit 1
