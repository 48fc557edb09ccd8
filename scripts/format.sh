#!/usr/bin/env bash
# Formats C/C++ files in place with clang-format and the repository's .clang-format: the given
# files, or every file scripts/check_format.sh checks (include/ src/ capi/ apps/ tests/
# benchmarks/ examples/ fuzz/; never build folders or bindings/). CLANG_FORMAT picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
command -v "$CLANG_FORMAT" >/dev/null || {
  echo "format: $CLANG_FORMAT not found (apt-get install clang-format)" >&2
  exit 2
}
if [ $# -gt 0 ]; then
  files=()
  for f in "$@"; do
    case "$f" in
      *.c | *.cc | *.cpp | *.h | *.hpp) files+=("$f") ;;
      *) echo "format: skipping $f (not a C/C++ file)" ;;
    esac
  done
else
  mapfile -t files < <(scripts/check_format.sh --list)
fi
[ ${#files[@]} -eq 0 ] && exit 0
printf '%s\0' "${files[@]}" | xargs -0 -n 16 -P "$(nproc)" "$CLANG_FORMAT" --style=file -i
echo "format: ${#files[@]} files formatted with $("$CLANG_FORMAT" --version | head -1)"
