#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs): the Release build's ctest suite
# (which includes the C API suite under ASan + LSan, capi.c_suite_asan, and the fuzz corpus
# replays), the checks of scripts/run_checks.sh, then scripts/run_sanitizers.sh: the whole suite
# again in a Clang build with AddressSanitizer + UndefinedBehaviorSanitizer, and each libFuzzer
# target for MMHOOK_FUZZ_SECONDS (default 60). MMHOOK_RUN_SANITIZERS=0 skips that second part
# (a cold Clang build takes ~25 min on 2 cores; with ccache warm, ~10 min in all).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh -DMMHOOK_WERROR=ON
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
# Formatting, API docs (Doxygen, undocumented public API is an error), versions, clang-tidy on
# the files the last change touched.
./scripts/run_checks.sh
if [ "${MMHOOK_RUN_SANITIZERS:-1}" = "1" ]; then
  ./scripts/run_sanitizers.sh
fi
