#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs): the Release build's ctest suite
# (which includes the C API suite under ASan + LSan, capi.c_suite_asan, and the fuzz corpus
# replays), the checks of scripts/run_checks.sh, then scripts/run_sanitizers.sh: the whole suite
# again in a Clang build with AddressSanitizer + UndefinedBehaviorSanitizer, and each libFuzzer
# target for MMHOOK_FUZZ_SECONDS (default 60). MMHOOK_RUN_SANITIZERS=0 skips that second part
# (a cold Clang build takes ~25 min on 2 cores; with ccache warm, ~10 min in all).
# Last, clang-tidy over every translation unit (scripts/tidy.sh --all): results are cached per
# preprocessed TU, so only what a change reaches is re-checked (~2 min when little changed); it
# gets the time left of MMHOOK_CI_BUDGET_S (default 5100 s, CI's 90 minutes less a margin),
# and TUs it could not reach in that time are listed as not checked. MMHOOK_TIDY_ALL=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
ci_start=$(date +%s)
./scripts/install_deps.sh
./scripts/build.sh -DMMHOOK_WERROR=ON
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
# Formatting, API docs (Doxygen, undocumented public API is an error), versions, clang-tidy on
# the files the last change touched.
./scripts/run_checks.sh
if [ "${MMHOOK_RUN_SANITIZERS:-1}" = "1" ]; then
  ./scripts/run_sanitizers.sh
fi
if [ "${MMHOOK_TIDY_ALL:-1}" = "1" ]; then
  left=$((${MMHOOK_CI_BUDGET_S:-5100} - ($(date +%s) - ci_start)))
  if [ "$left" -lt 300 ]; then
    echo "run_tests: full clang-tidy run skipped: ${left}s left of MMHOOK_CI_BUDGET_S"
  else
    TIDY_BUDGET_S=$((left - 180)) ./scripts/tidy.sh --all
  fi
fi
