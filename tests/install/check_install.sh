#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a C program against it with
# pkg-config (only -lmmhook) and a C++ program with find_package(mmhook).
# Usage: check_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) work=$3
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c99 -Wall -Werror "$src/examples/c/log_loss.c" $(pkg-config --cflags --libs mmhook) -o "$work/log_loss_c"
(cd "$work" && LD_LIBRARY_PATH="$prefix/lib" ./log_loss_c "$src/configs/toy.json" 1.0 | tail -1)
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
(cd "$work" && ./consumer/consumer "$src/configs/toy.json" | tail -1)
