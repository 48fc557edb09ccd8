#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer at
# exit), then the libFuzzer targets for a fixed time (scripts/run_fuzzers.sh). CI (.ci/run) runs
# this after the normal suite (scripts/run_tests.sh; MMHOOK_RUN_SANITIZERS=0 skips it).
# Extra arguments go to ctest (e.g. -R capi).
#
# One Clang build in ./build-san serves both: every mmhook target is compiled with
# -fsanitize=address,undefined and libFuzzer's coverage instrumentation (-DMMHOOK_FUZZ=ON), and
# fuzz/fuzz_<target> is linked with libFuzzer. LibTorch itself is not instrumented, but ASan's
# allocator replaces malloc/free process-wide, so leaks and bad frees of its memory are seen.
# Choices, for CI's 2 cores:
# - -O0 without -g: the TUs are dominated by LibTorch's headers; stack traces still name
#   functions (symbol tables).
# - No precompiled header, so ccache hits across checkouts (a PCH embeds absolute paths): CI's
#   clean clone reuses the objects of the last build here.
# - Not run here: the Rust/Go binding suites and examples (cargo/go load an uninstrumented host
#   binary that cannot preload the ASan runtime), install.consumers (it builds consumers without
#   -fsanitize against the instrumented static engine), and the benchmarks (not built).
# Suppressions: tests/sanitizers/*.supp, each entry with its reason (none needed so far).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"

CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_C_FLAGS_DEBUG=-O0 \
  "${launcher[@]}" -DMMHOOK_USE_PCH=OFF -DMMHOOK_WERROR=ON \
  -DMMHOOK_SANITIZE=address,undefined -DMMHOOK_FUZZ=ON -DMMHOOK_BUILD_BENCHMARKS=OFF
cmake --build build-san -j "$(nproc)"
built=$(date +%s)
echo "run_sanitizers: build took $((built - start)) s"

supp="$root/tests/sanitizers"
# ASan: leaks detected at exit (LSan), with the suppressions for LibTorch's own allocations.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"

(cd build-san && ctest --output-on-failure -j "$(nproc)" --timeout 1500 \
  -E '^(bindings\.|install\.|examples\.(rust|go)_)' "$@")
tested=$(date +%s)
echo "run_sanitizers: build $((built - start)) s, tests $((tested - built)) s"
if [ $# -eq 0 ]; then
  MMHOOK_FUZZ_BUILD=build-san ./scripts/run_fuzzers.sh
  echo "run_sanitizers: fuzzing $(( $(date +%s) - tested )) s"
fi
