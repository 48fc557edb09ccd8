#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a C program against it with
# pkg-config (only -lmmhook), a C++ program with find_package(mmhook) and, when cargo is
# installed, a downstream Rust crate (tests/install/rust_consumer) whose mmhook-sys finds the
# library through pkg-config. Prints "install consumers: OK" last when every check passed.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) work=$3
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

# expect GREP_MODE TEXT PATTERN WHAT: fails naming WHAT unless a line of TEXT matches PATTERN
# (GREP_MODE: -G for a regular expression, -F for a fixed string such as a path).
expect() {
  if ! grep -q "$1" -- "$3" <<<"$2"; then
    echo "check_install: $4: expected a line matching '$3' in:" >&2
    echo "$2" >&2
    exit 1
  fi
}

cc -std=c99 -Wall -Werror "$src/examples/c/log_loss.c" $(pkg-config --cflags --libs mmhook) -o "$work/log_loss_c"
(cd "$work" && LD_LIBRARY_PATH="$prefix/lib" ./log_loss_c "$src/configs/toy.json" 1.0 | tail -1)

cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
out=$(cd "$work" && ./consumer/consumer "$src/configs/toy.json" | tail -1)
echo "$out"
expect -G "$out" "^consumer trained 80 iterations$" "C++ consumer"

if command -v cargo >/dev/null; then
  # Offline, from Debian's crate registry (its .cargo/config.toml); the library only through
  # pkg-config: no MMHOOK_LIB_DIR, and no LD_LIBRARY_PATH when it runs (its rpath finds it).
  (cd "$src/tests/install/rust_consumer" &&
    env -u MMHOOK_LIB_DIR CARGO_TARGET_DIR="$work/rust-target" \
      cargo build --offline --quiet)
  out=$(cd "$work" && env -u LD_LIBRARY_PATH "$work/rust-target/debug/mmhook-rust-consumer" \
    "$src/configs/toy.json" "$work/rust-work" train_cfg.max_epochs=2 log_level=WARNING)
  echo "$out"
  expect -F "$out" " loaded from $prefix/lib/libmmhook.so" "Rust consumer (the installed library)"
  expect -G "$out" "^rust consumer trained 8 iterations (8 seen by its hook)$" "Rust consumer"
else
  echo "check_install: cargo not found; the Rust consumer is skipped"
fi
echo "install consumers: OK"
