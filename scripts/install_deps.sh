#!/usr/bin/env bash
# Installs what mmhook needs on Debian 12 (run as root). Idempotent: packages already present
# are left alone, and apt-get update runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libgloo-dev libopenblas0-pthread
  libspdlog-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libdlpack-dev zlib1g-dev libpng-dev
  dataset-fashion-mnist python3-torch golang-go
  clang-format clang-tidy doxygen
  clang libclang-rt-14-dev  # scripts/run_sanitizers.sh: the ASan + UBSan build and libFuzzer
  gnuplot-nox  # `mmhook plot` runs gnuplot as a child process; -nox has no X11
  librust-serde-json-dev  # the Rust bindings' serde_json (and serde), from /usr/share/cargo/registry
  fortunes  # the text of the Rust character-level language-model job (scripts/char_lm_job.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all packages present"
fi

