#!/usr/bin/env bash
# Fails (exit 1) listing the C/C++ files that clang-format would change; exit 0 when all are
# formatted. Checks the given files, or every C/C++ file under the source folders below.
#   scripts/check_format.sh              # the whole tree (what CI runs)
#   scripts/check_format.sh src/a.cpp    # just these
#   scripts/check_format.sh --list       # print the files that are checked, check nothing
# Covered: include/ src/ capi/ apps/ tests/ benchmarks/ examples/ fuzz/ (those that exist).
# Not covered: build folders, bindings/ (Rust and Go code, cgo trampolines) and anything git
# ignores. CLANG_FORMAT picks the binary (default clang-format; CI uses Debian 12's 14: other
# major versions may lay out a few constructs differently).
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
DIRS=(include src capi apps tests benchmarks examples fuzz)

list_files() {
  local present=()
  for d in "${DIRS[@]}"; do [ -d "$d" ] && present+=("$d"); done
  [ ${#present[@]} -eq 0 ] && return 0
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked files plus new ones not yet added (but not what .gitignore names).
    git ls-files --cached --others --exclude-standard -- "${present[@]}"
  else
    find "${present[@]}" \( -name 'build*' -o -name target -o -name CMakeFiles \) -prune -o \
      -type f -print
  fi | grep -E '\.(c|cc|cpp|cxx|h|hh|hpp|hxx)$' | grep -Ev '(^|/)build[^/]*/' | sort -u |
    while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
}

if [ "${1:-}" = "--list" ]; then
  list_files
  exit 0
fi

if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "check_format: $CLANG_FORMAT not found (apt-get install clang-format)" >&2
  exit 2
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(list_files)
fi
[ ${#files[@]} -eq 0 ] && { echo "check_format: no files"; exit 0; }

# One clang-format per file, in parallel; a file is listed when its formatted text differs.
bad=$(printf '%s\0' "${files[@]}" | xargs -0 -n 8 -P "$(nproc)" sh -c '
  for f in "$@"; do
    "$0" --style=file "$f" | cmp -s - "$f" || printf "%s\n" "$f"
  done' "$CLANG_FORMAT" | sort)

if [ -n "$bad" ]; then
  echo "check_format: $(printf '%s\n' "$bad" | wc -l) of ${#files[@]} files are not formatted" \
    "($("$CLANG_FORMAT" --version | head -1)):"
  printf '%s\n' "$bad" | sed 's/^/  /'
  echo "run scripts/format.sh (or scripts/format.sh FILE...) and commit the result"
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
