#!/usr/bin/env bash
# The Go autoencoder job in full: trains tests/fixtures/conv_autoencoder.pt on Fashion-MNIST
# through the Go bindings (bindings/go/examples/autoencoder) for EPOCHS epochs (default 5),
# prints the validation PSNR next to the mean-image baseline, and writes a PNG of originals
# over their reconstructions. It fails (status 1) unless the model beats the baseline.
#
# Needs a built libmmhook.so (./scripts/build.sh) and Go >= 1.19. MMHOOK_LIB_DIR is the folder
# holding the library (default: build), WORK_DIR the output folder (default:
# work_dirs/go_autoencoder). Extra arguments go to the example (e.g. -png-count 16).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib_dir="$(cd "${MMHOOK_LIB_DIR:-$root/build}" 2>/dev/null && pwd)" || {
  echo "autoencoder_job: no folder ${MMHOOK_LIB_DIR:-$root/build}: build the library first (./scripts/build.sh) or set MMHOOK_LIB_DIR" >&2
  exit 1
}
if [ ! -e "$lib_dir/libmmhook.so" ]; then
  echo "autoencoder_job: $lib_dir/libmmhook.so is missing: build the library first (./scripts/build.sh) or set MMHOOK_LIB_DIR" >&2
  exit 1
fi
work_dir="${WORK_DIR:-$root/work_dirs/go_autoencoder}"
mkdir -p "$work_dir"
work_dir="$(cd "$work_dir" && pwd)"
export CGO_ENABLED=1 CGO_CFLAGS="-I$root/capi/include"
export CGO_LDFLAGS="-L$lib_dir -Wl,-rpath,$lib_dir"
export LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on
cd "$root/bindings/go"
go build -o "$work_dir/autoencoder" ./examples/autoencoder
start=$(date +%s)
"$work_dir/autoencoder" -work-dir "$work_dir" -max-epochs "${EPOCHS:-5}" \
  -model "$root/tests/fixtures/conv_autoencoder.pt" -png "$work_dir/reconstructions.png" -check "$@"
echo "autoencoder_job: done in $(( $(date +%s) - start )) s; PNG: $work_dir/reconstructions.png"
