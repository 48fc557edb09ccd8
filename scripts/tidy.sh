#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over C/C++ translation units and fails (exit 1)
# on any finding.
#   scripts/tidy.sh                      # files changed since the merge base with main (CI)
#   scripts/tidy.sh src/engine/*.cpp     # these files
#   scripts/tidy.sh --all                # every source in the compilation database (slow:
#                                        # each TU parses LibTorch's headers, ~20 s CPU each)
#   scripts/tidy.sh --dry-run [...]      # print the translation units it would check
# A changed public header include/mmhook/<area>/<x>.h is checked through src/<area>/<x>.cpp
# (its findings are reported via HeaderFilterRegex). The compilation database is
# build/compile_commands.json (CMake writes it at configure time); when build/ is missing or
# was configured with a precompiled header (clang cannot read GCC's .gch), build-tidy/ is
# configured without one (configure only, nothing is compiled).
# Environment: CLANG_TIDY (default clang-tidy), TIDY_BASE (default: main, else origin/main;
# on main itself, the last commit), TIDY_JOBS (default nproc), TIDY_MAX_TUS (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CLANG_TIDY="${CLANG_TIDY:-clang-tidy}"
jobs="${TIDY_JOBS:-$(nproc)}"
command -v "$CLANG_TIDY" >/dev/null || {
  echo "tidy: $CLANG_TIDY not found (apt-get install clang-tidy)" >&2
  exit 2
}

# ---------------------------------------------------------------- compilation database
db=build
if [ ! -f "$db/compile_commands.json" ] || grep -q 'cmake_pch' "$db/compile_commands.json"; then
  db=build-tidy
  if [ ! -f "$db/compile_commands.json" ]; then
    echo "tidy: configuring $db (no precompiled header) for its compile_commands.json"
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S . -B "$db" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DMMHOOK_USE_PCH=OFF \
      -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
  fi
fi
in_db() { grep -qF "\"file\": \"$root/$1\"" "$db/compile_commands.json"; }

# ---------------------------------------------------------------- which files
dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
files=()
if [ "${1:-}" = "--all" ]; then
  mapfile -t files < <(grep -o '"file": "[^"]*"' "$db/compile_commands.json" |
    sed -e 's/"file": "//' -e 's/"$//' -e "s|^$root/||" | grep -v '^build' | sort -u)
elif [ $# -gt 0 ]; then
  files=("$@")
else
  base_ref="${TIDY_BASE:-}"
  if [ -z "$base_ref" ]; then
    for r in main origin/main; do
      git rev-parse -q --verify "$r^{commit}" >/dev/null && { base_ref=$r; break; }
    done
  fi
  base=""
  [ -n "$base_ref" ] && base=$(git merge-base HEAD "$base_ref")
  # On main itself (or with no main at all, as in a CI clone of one branch) the change is the
  # last commit: for a merge, everything it brought in.
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
      base=$(git rev-parse HEAD~1)
      base_ref="HEAD~1"
    else
      echo "tidy: no earlier commit to compare with; nothing to check (name files to check them)"
      exit 0
    fi
  fi
  mapfile -t changed < <({ git diff --name-only --diff-filter=ACMR "$base" --;
                           git ls-files --others --exclude-standard; } |
    grep -E '^(include|src|capi|apps|tests|benchmarks|examples|fuzz)/.*\.(c|cc|cpp|h|hpp)$' |
    sort -u)
  for f in "${changed[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
      include/mmhook/*.h) src="src/${f#include/mmhook/}"; f="${src%.h}.cpp" ;;
      *.h | *.hpp) continue ;;  # private headers are seen through the sources that include them
    esac
    [ -f "$f" ] && files+=("$f")
  done
  echo "tidy: ${#files[@]} translation units changed since $(git rev-parse --short "$base") ($base_ref)"
fi

tus=()
for f in "${files[@]}"; do
  f="${f#./}"
  if in_db "$f"; then tus+=("$f"); else echo "tidy: skipping $f (not in $db/compile_commands.json)"; fi
done
[ ${#tus[@]} -eq 0 ] && { echo "tidy: nothing to check"; exit 0; }
# TIDY_MAX_TUS caps a run without file arguments (scripts/run_checks.sh sets it for CI): a
# change touching more translation units than that (a tree-wide reformat, a big merge) is left
# to `scripts/tidy.sh --all` run on purpose.
if [ $# -eq 0 ] && [ -n "${TIDY_MAX_TUS:-}" ] && [ ${#tus[@]} -gt "$TIDY_MAX_TUS" ]; then
  echo "tidy: ${#tus[@]} translation units changed, more than TIDY_MAX_TUS=$TIDY_MAX_TUS: skipped" \
    "(run scripts/tidy.sh --all, or name the files)"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  printf '%s\n' "${tus[@]}"
  exit 0
fi

# ---------------------------------------------------------------- run
# -Wno-unknown-warning-option: the database holds GCC's flags. Each TU's output is collected
# separately so parallel runs do not interleave.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%s\n' "${tus[@]}" | xargs -P "$jobs" -I{} sh -c '
  log="$1/$(printf %s "$2" | tr / _).log"
  if "$0" -p "$3" --quiet --extra-arg=-Wno-unknown-warning-option "$2" >"$log" 2>&1; then
    rm -f "$log"
  fi' "$CLANG_TIDY" "$out" {} "$db" || true

failed=("$out"/*.log)
if [ -e "${failed[0]}" ]; then
  # The findings, without clang-tidy's "N warnings generated" chatter.
  cat "$out"/*.log | grep -v -E '^[0-9]+ (warnings?|errors?)( and [0-9]+ (warnings?|errors?))? generated\.$' |
    grep -v -E '^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' || true
  echo "tidy: findings in ${#failed[@]} of ${#tus[@]} translation units"
  exit 1
fi
echo "tidy: ${#tus[@]} translation units clean"
