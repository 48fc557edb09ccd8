#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh -DMMHOOK_WERROR=ON
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
