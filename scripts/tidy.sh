#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over C/C++ translation units and fails (exit 1)
# on any finding.
#   scripts/tidy.sh                      # files changed since the merge base with main
#   scripts/tidy.sh src/engine/*.cpp     # these files
#   scripts/tidy.sh --all                # every source in the compilation database (CI; each
#                                        # TU parses LibTorch's headers, ~20-90 s CPU each: 145
#                                        # TUs took 58 min cold on 2 cores, 2 min from the cache)
#   scripts/tidy.sh --dry-run [...]      # print the translation units it would check
# A changed public header include/mmhook/<area>/<x>.h is checked through src/<area>/<x>.cpp
# (its findings are reported via HeaderFilterRegex). The compilation database is
# build/compile_commands.json (CMake writes it at configure time); when build/ is missing or
# was configured with a precompiled header (clang cannot read GCC's .gch), build-tidy/ is
# configured without one (configure only, nothing is compiled).
#
# Cache: a clean result is remembered under a key over the clang-tidy version, .clang-tidy, the
# compile command, the preprocessed TU (every included header's content and path) and the raw
# text of the checkout's files it includes (comments such as NOLINT count; see
# scripts/tidy_key.py), with the checkout's path masked so clean clones share it. A TU is
# re-checked whenever anything it includes changes; findings are never cached.
#
# Environment: CLANG_TIDY (default clang-tidy), TIDY_BASE (default: main, else origin/main;
# on main itself, the last commit), TIDY_JOBS (default nproc), TIDY_MAX_TUS (see below),
# TIDY_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/mmhook-tidy; TIDY_CACHE=0 disables it),
# TIDY_BUDGET_S (seconds: TUs not started within it are listed as not checked instead of run;
# with --all, the TUs the change touched are checked first).
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
# The translation units a change touched (changed_files), since the merge base with TIDY_BASE.
changed_files=()
changed_tus() {
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
      base=""
      return 0
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
    [ -f "$f" ] && changed_files+=("$f")
  done
  return 0
}

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
files=()
if [ "${1:-}" = "--all" ]; then
  mapfile -t all_files < <(grep -o '"file": "[^"]*"' "$db/compile_commands.json" |
    sed -e 's/"file": "//' -e 's/"$//' -e "s|^$root/||" | grep -v '^build' | sort -u)
  # The change's own TUs first, so a time budget (TIDY_BUDGET_S) never leaves them out.
  changed_tus
  files=("${changed_files[@]}")
  for f in "${all_files[@]}"; do
    case " ${changed_files[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
  done
elif [ $# -gt 0 ]; then
  files=("$@")
else
  changed_tus
  if [ -z "$base" ]; then
    echo "tidy: no earlier commit to compare with; nothing to check (name files to check them)"
    exit 0
  fi
  files=("${changed_files[@]}")
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
# separately so parallel runs do not interleave: $out/<tu>.log holds findings, <tu>.cached /
# <tu>.skipped mark TUs the cache answered or the budget left out.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cache_dir=""
tool_hash=""
if [ "${TIDY_CACHE:-1}" != 0 ] && command -v python3 >/dev/null; then
  cache_dir="${TIDY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmhook-tidy}"
  if mkdir -p "$cache_dir" 2>/dev/null; then
    tool_hash=$({ "$CLANG_TIDY" --version; cat .clang-tidy; } | sha256sum | cut -d' ' -f1)
    find "$cache_dir" -type f -mtime +30 -delete 2>/dev/null || true
  else
    echo "tidy: cannot create cache directory $cache_dir; running without a cache"
    cache_dir=""
  fi
fi
deadline=""
[ -n "${TIDY_BUDGET_S:-}" ] && deadline=$(($(date +%s) + TIDY_BUDGET_S))

tidy_one() {
  local f=$1 log key="" key_after=""
  log="$out/$(printf %s "$f" | tr / _)"
  if [ -n "$deadline" ] && [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$f" >"$log.skipped"
    return 0
  fi
  if [ -n "$cache_dir" ]; then
    key=$(python3 scripts/tidy_key.py "$db" "$root" "$f" "$tool_hash" 2>/dev/null) || key=""
    if [ -n "$key" ] && [ -e "$cache_dir/$key" ]; then
      touch "$cache_dir/$key"
      echo "$f" >"$log.cached"
      return 0
    fi
  fi
  if "$CLANG_TIDY" -p "$db" --quiet --extra-arg=-Wno-unknown-warning-option "$f" >"$log.log" 2>&1; then
    rm -f "$log.log"
    # Remembered only if nothing the TU includes changed while clang-tidy ran.
    if [ -n "$key" ]; then
      key_after=$(python3 scripts/tidy_key.py "$db" "$root" "$f" "$tool_hash" 2>/dev/null) || true
      [ "$key" = "$key_after" ] && : >"$cache_dir/$key"
    fi
  fi
  return 0
}
export -f tidy_one
export out db root cache_dir tool_hash deadline CLANG_TIDY
printf '%s\n' "${tus[@]}" | xargs -P "$jobs" -I{} bash -c 'tidy_one "$1"' _ {} || true

shopt -s nullglob
failed=("$out"/*.log)
cached=("$out"/*.cached)
skipped=("$out"/*.skipped)
shopt -u nullglob
checked=$((${#tus[@]} - ${#cached[@]} - ${#skipped[@]}))
summary="${#tus[@]} translation units: $checked checked, ${#cached[@]} clean in the cache"
if [ ${#skipped[@]} -gt 0 ]; then
  summary="$summary, ${#skipped[@]} not checked (TIDY_BUDGET_S=$TIDY_BUDGET_S ran out)"
  echo "tidy: not checked within the budget:"
  cat "${skipped[@]}" | sed 's/^/  /'
fi
if [ ${#failed[@]} -gt 0 ]; then
  # The findings, without clang-tidy's "N warnings generated" chatter.
  cat "${failed[@]}" | grep -v -E '^[0-9]+ (warnings?|errors?)( and [0-9]+ (warnings?|errors?))? generated\.$' |
    grep -v -E '^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' || true
  echo "tidy: findings in ${#failed[@]} of $summary"
  exit 1
fi
echo "tidy: clean; $summary"
