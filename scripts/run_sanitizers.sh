#!/usr/bin/env bash
# Builds mmhook a second time into ./build-asan with AddressSanitizer + UndefinedBehaviorSanitizer
# and runs the whole ctest suite there, LeakSanitizer included (scripts/run_tests.sh calls this
# after the normal suite when MMHOOK_RUN_SANITIZERS=1; CI does not: it takes ~35 min more).
# Extra arguments go to ctest (e.g. -R capi).
#
# Choices, each for CI's 2 cores:
# - Debug at -O0 without -g: the TUs are dominated by LibTorch's headers; -O1 doubled the compile
#   time of a TU and -g adds more. Stack traces still name functions (symbol tables).
# - A precompiled header (unlike build/): LibTorch's headers are parsed once instead of in each
#   of ~140 TUs, which cuts a cold sanitized build by about two thirds. ccache still caches the
#   objects within one checkout.
# - Not run here: the Rust/Go binding suites (cargo/go test load an uninstrumented host binary
#   that cannot preload the ASan runtime), install.consumers (it builds consumers against the
#   installed, instrumented static engine without -fsanitize), and the benchmarks (not built).
# Suppressions: tests/sanitizers/*.supp, each entry with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_C_FLAGS_DEBUG=-O0 \
  "${launcher[@]}" -DMMHOOK_USE_PCH=ON -DMMHOOK_WERROR=ON \
  -DMMHOOK_SANITIZE=address,undefined -DMMHOOK_BUILD_BENCHMARKS=OFF
cmake --build build-asan -j "$(nproc)"
built=$(date +%s)
echo "run_sanitizers: build took $((built - start)) s"

supp="$root/tests/sanitizers"
# ASan: leaks detected at exit (LSan), with the suppressions for LibTorch's own allocations.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
# The mmhook binary under test, for tests that spawn it, is the instrumented one.
export MMHOOK_SANITIZED=1

cd build-asan
ctest --output-on-failure -j "$(nproc)" --timeout 1500 -E '^(bindings\.|install\.)' "$@"
echo "run_sanitizers: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
