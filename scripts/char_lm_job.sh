#!/usr/bin/env bash
# The Rust character-level language-model job in full: trains tests/fixtures/char_lm.pt on the
# text of Debian's `fortunes` through libmmhook.so with the Rust example
# bindings/rust/mmhook/examples/char_lm.rs (Rust dataset, perplexity metric and sample hook),
# then the same model with the plain PyTorch loop scripts/char_lm_reference.py (same weights,
# windows, batch order, optimizer, schedule and seed), and prints both validation perplexities,
# the unigram baseline and whether they agree within 2 %. Exit status 0 only when the two
# tokenizations agree, the perplexities are within 2 % and mmhook's is below the baseline.
#
# Needs libmmhook.so (MMHOOK_LIB_DIR, default build/; scripts/build.sh builds it), cargo,
# python3-torch and fortunes (scripts/install_deps.sh). Extra arguments go to both programs
# (e.g. --epochs 2); WORK_DIR (default work_dirs/char_lm) receives the logs and checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export MMHOOK_LIB_DIR="${MMHOOK_LIB_DIR:-$root/build}"
export MMHOOK_INCLUDE_DIR="${MMHOOK_INCLUDE_DIR:-$root/capi/include}"
export LD_LIBRARY_PATH="$MMHOOK_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work_dir="${WORK_DIR:-$root/work_dirs/char_lm}"
mkdir -p "$work_dir"
rust_log="$work_dir/mmhook.log"
ref_log="$work_dir/reference.log"

(cd bindings/rust/mmhook && cargo build --offline --quiet --release --example char_lm)
echo "char_lm_job: mmhook (Rust) run -> $rust_log"
(cd bindings/rust/mmhook && nice -n 10 cargo run --offline --quiet --release --example char_lm -- \
  --work-dir "$work_dir" "$@") | tee "$rust_log"
echo "char_lm_job: plain PyTorch reference -> $ref_log"
nice -n 10 /usr/bin/python3 scripts/char_lm_reference.py "$@" | tee "$ref_log"

if ! diff <(grep '^tokens:' "$rust_log") <(grep '^tokens:' "$ref_log") >/dev/null; then
  echo "char_lm_job: FAIL: the Rust and Python tokenizations differ (the 'tokens:' lines)" >&2
  exit 1
fi
# Field 4 of "mmhook val perplexity X ..." / "reference val perplexity X ...", field 5 of
# "unigram baseline val perplexity X"; the logs are read as awk's input files.
awk '
  /^mmhook val perplexity/      { m = $4; ms = $8 }
  /^reference val perplexity/   { r = $4; rs = $8 }
  /^unigram baseline val perplexity/ { u = $5 }
  END {
    if (m == "" || r == "" || u == "") { print "char_lm_job: FAIL: a perplexity is missing"; exit 1 }
    d = (m - r) / r * 100
    printf "char_lm_job: val perplexity mmhook %.4f (%s s), PyTorch %.4f (%s s), unigram baseline %.4f\n", m, ms, r, rs, u
    printf "char_lm_job: difference %+.4f %% (limit 2 %%)\n", d
    ok = (d < 2 && d > -2 && m < u)
    print (ok ? "char_lm_job: PASS" : "char_lm_job: FAIL")
    exit ok ? 0 : 1
  }' "$rust_log" "$ref_log"
