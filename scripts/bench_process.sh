#!/usr/bin/env bash
# Whole-process cost of `mmhook train` against the raw LibTorch loop (benchmarks/raw_train.cpp,
# same data, model code, seed, optimizer and batch size; a state dict saved and the test split
# evaluated each epoch): wall time and peak RSS of full runs (MLP 3 epochs, CNN 1 epoch), of
# 10-iteration runs (start-up to the first iterations) and of `mmhook --version` / `--help`.
# Runs alternate (raw then mmhook in odd rounds, mmhook then raw in even ones) so load from other
# processes and the order hit both alike; the tables give medians over rounds, then min-max, and
# the median of the rounds' own ratios (each round's mmhook run over its raw run, measured in the
# same minute), which the machine's drift touches least.
#
#   scripts/bench_process.sh [ROUNDS]          # default 3 rounds; ~2 min a round on 2 idle cores
#   BENCH_MODELS="mlp" scripts/bench_process.sh 5
#   BENCH_BUILD_DIR=build-other scripts/bench_process.sh
#
# Both run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 (mmhook's default thread counts). The
# raw loop runs with mmhook's default glibc allocator settings (MALLOC_MMAP_THRESHOLD_ 32 MiB,
# MALLOC_TRIM_THRESHOLD_ 512 MiB, as env_cfg applies them), so that the comparison is of the
# engine, not of the allocator; full runs are also measured with glibc's defaults ("raw, glibc
# malloc"), which fault the CNN's large buffers in again every iteration.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD_DIR:-build}
rounds=${1:-3}
models=${BENCH_MODELS:-mlp cnn}
for exe in "$build/mmhook" "$build/benchmarks/raw_train"; do
  [ -x "$exe" ] || { echo "bench_process: $exe is missing; build first (scripts/build.sh)" >&2; exit 1; }
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
results="$work/results"
: >"$results"

# measure LABEL COMMAND...: runs COMMAND and appends "LABEL WALL_S PEAK_RSS_KB ROUND" to the
# results.
measure() {
  local label=$1
  shift
  if ! /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1; then
    echo "bench_process: $label failed:" >&2
    tail -20 "$work/out" >&2
    exit 1
  fi
  echo "$label $(tail -1 "$work/time") $round" >>"$results"
}

engine_malloc=(env MALLOC_MMAP_THRESHOLD_=$((32 << 20)) MALLOC_TRIM_THRESHOLD_=$((512 << 20)))
epochs_of() { [ "$1" = mlp ] && echo 3 || echo 1; }

# pair SUFFIX RAW_ARGS -- MMHOOK_ARGS: the raw run and the mmhook run of one round, raw first in
# odd rounds and mmhook first in even ones (ABBA), so that neither always runs second.
pair() {
  local suffix=$1 raw_args=() mmhook_args=()
  shift
  while [ "$1" != -- ]; do raw_args+=("$1"); shift; done
  shift
  mmhook_args=("$@")
  rm -rf -- "$work/raw" "$work/mmhook"
  if ((round % 2)); then
    measure "raw_$suffix" "${engine_malloc[@]}" "$build/benchmarks/raw_train" "${raw_args[@]}"
    measure "mmhook_$suffix" "$build/mmhook" train "${mmhook_args[@]}"
  else
    measure "mmhook_$suffix" "$build/mmhook" train "${mmhook_args[@]}"
    measure "raw_$suffix" "${engine_malloc[@]}" "$build/benchmarks/raw_train" "${raw_args[@]}"
  fi
}

for ((round = 1; round <= rounds; ++round)); do
  echo "bench_process: round $round of $rounds" >&2
  measure version "$build/mmhook" --version
  measure help "$build/mmhook" --help
  for m in $models; do
    cfg="benchmarks/configs/process_$m.json"
    pair "$m" --model "$m" --epochs "$(epochs_of "$m")" --work-dir "$work/raw" -- \
      "$cfg" --work-dir "$work/mmhook"
    rm -rf -- "$work/raw"
    measure "rawglibc_$m" "$build/benchmarks/raw_train" --model "$m" --epochs "$(epochs_of "$m")" \
      --work-dir "$work/raw"
    pair "${m}_10it" --model "$m" --iters 10 --work-dir "$work/raw" -- \
      "$cfg" --work-dir "$work/mmhook" --cfg-options 'train_cfg={"by_epoch": false, "max_iters": 10}'
  done
done

# Medians and ranges per label, then the mmhook / raw ratios of the medians.
awk -v models="$models" '
  { wall[$1] = wall[$1] " " $2; rss[$1] = rss[$1] " " $3; at[$1, $4] = $2; if ($4 > rounds) rounds = $4 }
  # The mmhook runs over the raw runs of their rounds (the same minute on the machine).
  function paired(k,    r, list) {
    for (r = 1; r <= rounds; ++r)
      if ((("mmhook_" k, r) in at) && (("raw_" k, r) in at)) list = list " " at["mmhook_" k, r] / at["raw_" k, r]
    return list
  }
  # Splits a space-separated list into a[1..n], sorted; returns n.
  function sorted(list, a,    n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; ++i) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; --j) a[j + 1] = a[j]; a[j + 1] = t }
    return n
  }
  function median(list,    a, n) {
    n = sorted(list, a)
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function stats(list, scale,    a, n) {
    n = sorted(list, a)
    return sprintf("%.2f [%.2f-%.2f]", median(list) / scale, a[1] / scale, a[n] / scale)
  }
  function ratios(list,    a, n) {
    n = sorted(list, a)
    return sprintf("%.3fx [%.3f-%.3f]", median(list), a[1], a[n])
  }
  END {
    print "| run | wall s | peak RSS MB |"
    print "|---|---|---|"
    print "| mmhook --version | " stats(wall["version"], 1) " | " stats(rss["version"], 1024) " |"
    print "| mmhook --help | " stats(wall["help"], 1) " | " stats(rss["help"], 1024) " |"
    nm = split(models, ms, " ")
    for (k = 1; k <= nm; ++k) {
      m = ms[k]
      for (s = 1; s <= 2; ++s) {
        suffix = s == 1 ? "" : "_10it"
        what = s == 1 ? (m == "mlp" ? "3 epochs" : "1 epoch") : "10 iterations"
        print "| raw " m " " what " | " stats(wall["raw_" m suffix], 1) " | " stats(rss["raw_" m suffix], 1024) " |"
        if (s == 1) print "| raw, glibc malloc, " m " " what " | " stats(wall["rawglibc_" m], 1) " | " stats(rss["rawglibc_" m], 1024) " |"
        print "| mmhook " m " " what " | " stats(wall["mmhook_" m suffix], 1) " | " stats(rss["mmhook_" m suffix], 1024) " |"
      }
    }
    print ""
    print "| model | run | wall mmhook/raw | wall, median of per-round mmhook/raw [min-max] | peak RSS mmhook/raw | wall mmhook/(raw, glibc malloc) |"
    print "|---|---|---|---|---|---|"
    for (k = 1; k <= nm; ++k) {
      m = ms[k]
      for (s = 1; s <= 2; ++s) {
        suffix = s == 1 ? "" : "_10it"
        what = s == 1 ? (m == "mlp" ? "3 epochs" : "1 epoch") : "10 iterations"
        printf "| %s | %s | %.3fx | %s | %.3fx | %s |\n", m, what,
          median(wall["mmhook_" m suffix]) / median(wall["raw_" m suffix]),
          ratios(paired(m suffix)),
          median(rss["mmhook_" m suffix]) / median(rss["raw_" m suffix]),
          s == 1 ? sprintf("%.3fx", median(wall["mmhook_" m]) / median(wall["rawglibc_" m])) : "-"
      }
    }
  }' "$results"
