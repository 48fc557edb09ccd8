#!/usr/bin/env bash
# Performance benchmarks (issue 7): raw LibTorch loop vs the mmhook Runner on the anchors'
# trivial / MLP / CNN models, dispatch micro-benchmarks, checkpoint save vs write+fsync.
# Prints one markdown table per benchmark. Runs alternate in one process, so the ratios hold
# on a shared machine; absolute times do not.
#
#   scripts/bench.sh                    # all models, 3 rounds (~3 min on 2 idle cores)
#   BENCH_MODELS=trivial,mlp BENCH_ROUNDS=5 scripts/bench.sh
#   BENCH_BUILD_DIR=build-pch scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BENCH_BUILD_DIR:-build}"
models="${BENCH_MODELS:-trivial,mlp,cnn}"
rounds="${BENCH_ROUNDS:-3}"

if [ ! -x "$build/benchmarks/bench_train" ] || [ ! -x "$build/benchmarks/bench_dispatch" ]; then
  ninja -C "$build" bench_train bench_dispatch bench_capi_dispatch
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "## Training loop: raw LibTorch vs mmhook Runner ($(nproc) cores, $(date -u +%F))"
echo
# The Runner logs every 50 iterations: its log lines go to a file, the table to stdout.
"$build/benchmarks/bench_train" --models "$models" --rounds "$rounds" --checkpoint \
  --out "$out/train.md" >"$out/train.log" 2>&1 || { tail -50 "$out/train.log"; exit 1; }
cat "$out/train.md"
echo

echo "## Hook dispatch (ns per stage call)"
echo
echo "| benchmark | ns | allocs/call |"
echo "|---|---:|---:|"
"$build/benchmarks/bench_dispatch" --benchmark_min_time=0.2 --benchmark_format=json \
  >"$out/dispatch.json"
"$build/benchmarks/bench_capi_dispatch" --benchmark_min_time=0.2 --benchmark_format=json \
  >"$out/capi.json"
/usr/bin/python3 - "$out/dispatch.json" "$out/capi.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    for b in json.load(open(path))["benchmarks"]:
        name = b["name"] + (" (" + b["label"] + ")" if b.get("label") else "")
        allocs = b.get("allocs_per_call")
        print(f"| {name} | {b['cpu_time']:.2f} | {'' if allocs is None else f'{allocs:.3f}'} |")
PY
