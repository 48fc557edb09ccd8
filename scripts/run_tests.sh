#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs) and the checks of
# scripts/run_checks.sh, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer in build-asan
# (scripts/run_sanitizers.sh; MMHOOK_SKIP_SANITIZERS=1 skips that second pass).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh -DMMHOOK_WERROR=ON
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
# Formatting, API docs (Doxygen, undocumented public API is an error), versions, clang-tidy on
# the files the last change touched.
./scripts/run_checks.sh
if [ "${MMHOOK_SKIP_SANITIZERS:-0}" != "1" ]; then
  ./scripts/run_sanitizers.sh
fi
