#!/usr/bin/env bash
# Measures a cold build: configures a fresh build folder like scripts/build.sh (Release, Ninja,
# no precompiled header) but with ccache off, builds with -j JOBS, and records each compile's
# CPU seconds (user + system) through a compiler launcher. Prints the wall time, the summed
# CPU, the load average before and after, and the heaviest translation units.
#   scripts/build_times.sh                 # build-times/, -j $(nproc)
#   BUILD_DIR=/tmp/b JOBS=2 scripts/build_times.sh
#   scripts/build_times.sh --report DIR    # print the figures of an earlier run again
# CPU seconds depend less on other load than wall time does, so compare them between runs
# taken on a busy machine (benchmarks/README.md, "Build time").
set -euo pipefail
cd "$(dirname "$0")/.."

report() {
  local dir=$1 top=${TOP:-15}
  local log="$dir/compile_times.log"
  [ -f "$log" ] || { echo "build_times: no $log" >&2; exit 2; }
  echo "== slowest translation units (CPU s, wall s)"
  sort -rn "$log" | head -n "$top" | awk '{printf "%7.1f %7.1f  %s\n", $1, $2, $3}'
  awk '{cpu += $1; n += 1} END {printf "== %d compiles, %.0f CPU s in all (%.1f min)\n", n, cpu, cpu / 60}' "$log"
  [ -f "$dir/build_times.txt" ] && cat "$dir/build_times.txt"
}

if [ "${1:-}" = "--report" ]; then
  report "${2:?usage: build_times.sh --report DIR}"
  exit 0
fi

[ -x /usr/bin/time ] || { echo "build_times: needs GNU time (apt-get install time)" >&2; exit 2; }
dir="${BUILD_DIR:-build-times}"
jobs="${JOBS:-$(nproc)}"
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
launcher="$dir/time_compile.sh"
# One line per compile: CPU seconds, wall seconds, object file.
cat >"$launcher" <<EOF
#!/usr/bin/env bash
out=unknown
prev=
for a in "\$@"; do [ "\$prev" = "-o" ] && out=\$a; prev=\$a; done
exec /usr/bin/time -f "%U %S %e \$out" -a -o "$dir/compile_times.raw" "\$@"
EOF
chmod +x "$launcher"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMHOOK_USE_PCH=OFF \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCMAKE_C_COMPILER_LAUNCHER="$launcher" >/dev/null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
cmake --build "$dir" -j "$jobs"
wall=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
awk '{printf "%.2f %.2f %s\n", $1 + $2, $3, $4}' "$dir/compile_times.raw" >"$dir/compile_times.log"
{
  echo "== cold build with -j $jobs on $(nproc) cores: ${wall} s wall ($((wall / 60)) min $((wall % 60)) s)"
  echo "== load average before: $load_before, after: $load_after"
} >"$dir/build_times.txt"
report "$dir"
