#!/usr/bin/env bash
# Tests scripts/tidy.sh's result cache and time budget on a throw-away repository with two
# translation units and a fake clang-tidy (it records each file it is run on and reports a
# finding for a file containing FINDING), so no real clang-tidy run is needed.
#   tests/scripts/test_tidy.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src_dir=$(cd "$1" && pwd)
work=$2
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

make_repo() {  # make_repo DIR: the scripts, a .clang-tidy, two TUs and their database
  local r=$1
  mkdir -p "$r/scripts" "$r/src" "$r/include" "$r/build"
  cp "$src_dir/scripts/tidy.sh" "$src_dir/scripts/tidy_key.py" "$r/scripts/"
  echo "Checks: 'bugprone-*'" >"$r/.clang-tidy"
  echo 'inline int shared_value() { return 1; }' >"$r/include/shared.h"
  printf '#include "shared.h"\nint a() { return shared_value(); }\n' >"$r/src/a.cpp"
  printf 'int b() { return 2; }\n' >"$r/src/b.cpp"
  cat >"$r/build/compile_commands.json" <<EOF
[
  {"directory": "$r/build", "file": "$r/src/a.cpp",
   "command": "c++ -I$r/include -std=c++17 -o a.o -c $r/src/a.cpp"},
  {"directory": "$r/build", "file": "$r/src/b.cpp",
   "command": "c++ -I$r/include -std=c++17 -o b.o -c $r/src/b.cpp"}
]
EOF
  (cd "$r" && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm init)
}

# The fake clang-tidy: `--version` for the cache key; otherwise the last argument is the file.
fake="$work/fake-clang-tidy"
cat >"$fake" <<'EOF'
#!/usr/bin/env bash
if [ "$1" = "--version" ]; then echo "fake clang-tidy 1.0"; exit 0; fi
file="${*: -1}"
echo "$file" >>"$FAKE_TIDY_LOG"
if grep -q FINDING "$file"; then
  echo "$file:1:1: error: a finding [bugprone-fake,-warnings-as-errors]"
  exit 1
fi
exit 0
EOF
chmod +x "$fake"

export CLANG_TIDY="$fake" TIDY_CACHE_DIR="$work/cache" FAKE_TIDY_LOG="$work/calls.log" TIDY_JOBS=2
repo="$work/repo"
make_repo "$repo"

run() {  # run EXPECTED_STATUS ARGS...: runs tidy.sh in $repo (the checkout), output in $work/out.txt
  local want=$1 status=0
  shift
  : >"$FAKE_TIDY_LOG"
  (cd "$repo" && scripts/tidy.sh "$@") >"$work/out.txt" 2>&1 || status=$?
  [ "$status" = "$want" ] || { cat "$work/out.txt"; fail "tidy.sh $* exited $status, expected $want"; }
}
calls() { sort "$FAKE_TIDY_LOG" | sed "s|^$repo/||" | tr '\n' ' '; }

# 1. A cold run checks both TUs; clean results are cached.
run 0 --all
[ "$(calls)" = "src/a.cpp src/b.cpp " ] || fail "cold run checked: $(calls)"
grep -q "2 checked, 0 clean in the cache" "$work/out.txt" || fail "cold summary: $(cat "$work/out.txt")"

# 2. Nothing changed: both answered by the cache, clang-tidy not run.
run 0 --all
[ -z "$(calls)" ] || fail "warm run ran clang-tidy on: $(calls)"
grep -q "0 checked, 2 clean in the cache" "$work/out.txt" || fail "warm summary: $(cat "$work/out.txt")"

# 3. A header only a.cpp includes changes: only a.cpp is checked again.
echo 'inline int shared_value() { return 3; }' >"$repo/include/shared.h"
run 0 --all
[ "$(calls)" = "src/a.cpp " ] || fail "after a header change checked: $(calls)"

# 4. A finding fails the run, is printed, and is not cached (the next run checks it again).
echo '// FINDING' >>"$repo/src/b.cpp"
run 1 --all
grep -q "src/b.cpp:1:1: error: a finding" "$work/out.txt" || fail "finding not printed"
grep -q "findings in 1 of 2 translation units" "$work/out.txt" || fail "summary: $(cat "$work/out.txt")"
run 1 src/b.cpp
[ "$(calls)" = "src/b.cpp " ] || fail "a finding was cached: $(calls)"

# 5. A clean clone elsewhere (CI) shares the cache: the checkout's path is not in the key.
sed -i '/FINDING/d' "$repo/src/b.cpp"
run 0 --all
clone="$work/elsewhere/clone"
make_repo "$clone"
echo 'inline int shared_value() { return 3; }' >"$clone/include/shared.h"
repo="$clone" run 0 --all
[ -z "$(calls)" ] || fail "a clone in another directory missed the cache: $(calls)"

# 6. A used-up time budget leaves TUs unchecked, names them, and is not a failure.
TIDY_CACHE=0 TIDY_BUDGET_S=0 run 0 --all
[ -z "$(calls)" ] || fail "budget 0 still ran: $(calls)"
grep -q "2 not checked (TIDY_BUDGET_S=0 ran out)" "$work/out.txt" || fail "budget summary: $(cat "$work/out.txt")"
grep -q "^  src/a.cpp$" "$work/out.txt" || fail "unchecked TUs not listed"

# 7. TIDY_CACHE=0 checks everything again.
TIDY_CACHE=0 run 0 --all
[ "$(calls)" = "src/a.cpp src/b.cpp " ] || fail "TIDY_CACHE=0 checked: $(calls)"

echo "tidy cache and budget: all checks passed"
