#!/usr/bin/env bash
# The README's test command: installs what is missing, builds into build/ (the same build, with
# the same compile flags, as scripts/main_job.sh: running one after the other rebuilds nothing),
# runs the whole ctest suite (which includes the C API suite under ASan + LSan,
# capi.c_suite_asan, and the fuzz corpus replays), then the quick checks of
# scripts/run_checks.sh (formatting, API docs, versions, clang-tidy on the files the last change
# touched).
#
# CI (.ci/run) runs this with MMHOOK_WERROR=ON, then the long checks: the whole suite again under
# ASan + UBSan (scripts/run_sanitizers.sh), the fuzzers, and clang-tidy over every translation
# unit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
./scripts/run_checks.sh
