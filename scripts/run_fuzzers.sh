#!/usr/bin/env bash
# Runs each libFuzzer target of fuzz/ for a fixed time from its committed seed corpus and
# regressions, and prints a table: executions, corpus size before/after, crashes. Needs the
# Clang fuzz build that scripts/run_sanitizers.sh makes (build-san/, -DMMHOOK_FUZZ=ON).
#   MMHOOK_FUZZ_SECONDS  seconds per target (default 60)
#   MMHOOK_FUZZ_BUILD    build folder (default build-san)
# The corpus grows in a scratch copy: the committed seeds stay as they are. A crash leaves its
# input in $MMHOOK_FUZZ_BUILD/fuzz-artifacts/<target>/ and fails the script; committing that
# input under fuzz/regressions/<target>/ makes it a test of every build (fuzz.<target>.replay).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds="${MMHOOK_FUZZ_SECONDS:-60}"
build="${MMHOOK_FUZZ_BUILD:-build-san}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
supp="$root/tests/sanitizers"
# An allocation over 4 GiB fails (std::bad_alloc, which the loaders must turn into their error)
# instead of being reported: sizes read from a corrupt header are an input, not a bug.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=4096:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TMPDIR="$scratch"
status=0
table="| target | seconds | executions | exec/s | corpus (seeds -> after) | crashes |\n|---|---|---|---|---|---|\n"
for t in config checkpoint idx; do
  exe="$build/fuzz/fuzz_$t"
  [ -x "$exe" ] || { echo "run_fuzzers: $exe is missing (run scripts/run_sanitizers.sh)"; exit 1; }
  corpus="$scratch/corpus-$t"
  artifacts="$root/$build/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/$t/* "$corpus/"
  cp fuzz/regressions/$t/* "$corpus/" 2>/dev/null || true
  seeds=$(ls "$corpus" | wc -l)
  log="$root/$build/fuzz-$t.log"
  echo "run_fuzzers: fuzz_$t for ${seconds}s (log $log)"
  # -close_fd_mask=1: the Runner's console log would flood stdout. -rss_limit_mb=0: libFuzzer's
  # own malloc limit would report the 4 GiB allocations above; ASan limits them instead.
  # -timeout flags an input that hangs.
  rc=0
  # fuzz_checkpoint only: LibTorch's own leak on a throwing archive reader (see the file).
  supp_file="$supp/lsan.supp"
  [ "$t" = checkpoint ] && supp_file="$supp/lsan_fuzz_checkpoint.supp"
  LSAN_OPTIONS="suppressions=$supp_file:print_suppressions=0" \
  "$exe" "$corpus" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=0 -max_len=16384 \
    -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  after=$(ls "$corpus" | wc -l)
  crashes=$(ls "$artifacts" | wc -l)
  table+="| fuzz_$t | $seconds | $execs | $rate | $seeds -> $after | $crashes |\n"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "run_fuzzers: fuzz_$t failed (exit $rc); the end of its log:"
    tail -40 "$log"
    status=1
  fi
done
printf "\n$table"
exit $status
