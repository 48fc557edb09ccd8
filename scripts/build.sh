#!/usr/bin/env bash
# Configures and builds mmhook into ./build (Release, Ninja, ccache when available). Extra
# arguments go to cmake's configure step.
# Without a precompiled header and without -g, ccache hits across checkouts (CI clones the
# repository elsewhere): a .gch embeds absolute paths, so with PCH every file missed the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# Share the cache between checkouts (CI builds a clean clone elsewhere).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
pch=()
[ ${#launcher[@]} -gt 0 ] && pch=(-DMMHOOK_USE_PCH=OFF)
# MMHOOK_WERROR=ON (CI sets it) makes warnings errors. Unset, the build keeps whatever it was
# configured with, so the README's two commands share one build and one set of compile flags.
werror=()
[ -n "${MMHOOK_WERROR:-}" ] && werror=(-DMMHOOK_WERROR="$MMHOOK_WERROR")
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "${pch[@]}" "${werror[@]}" "$@"
cmake --build build -j "$(nproc)"
