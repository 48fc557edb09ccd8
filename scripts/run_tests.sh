#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs; it includes the C API suite
# under AddressSanitizer + LeakSanitizer, capi.c_suite_asan) and the checks of
# scripts/run_checks.sh. MMHOOK_RUN_SANITIZERS=1 then also runs the whole suite with every
# target instrumented (scripts/run_sanitizers.sh: a second, -O0 build of ~35 min on 2 cores, so
# not part of CI's 90 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh -DMMHOOK_WERROR=ON
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
# Formatting, API docs (Doxygen, undocumented public API is an error), versions, clang-tidy on
# the files the last change touched.
./scripts/run_checks.sh
if [ "${MMHOOK_RUN_SANITIZERS:-0}" = "1" ]; then
  ./scripts/run_sanitizers.sh
fi
