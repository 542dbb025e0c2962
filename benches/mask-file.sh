#!/usr/bin/env bash
# Measures `privgate mask` end to end on a 1 GiB NDJSON file and compares its throughput
# with the engine's own (in-process, same data shape and plan) from the `ratios` binary.
#
# Builds release; generates the file under /tmp with `gen` (benches/src/bin/gen.rs); masks
# it with benches/policy (the benches' `typical` plan as a policy) under /usr/bin/time -v,
# output to /dev/null so the disk is not what is measured; prints elapsed time, MB/s and
# peak RSS; then runs `ratios` and prints its NDJSON `typical` row. Deletes the file.
# Usage: bash benches/mask-file.sh        (BYTES=N to change the size, default 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."

bytes="${BYTES:-1073741824}"
file="$(mktemp /tmp/privgate-mask-bench.XXXXXX.ndjson)"
log="$(mktemp)"
trap 'rm -f "$file" "$log"' EXIT

if [ ! -x /usr/bin/time ]; then
  apt-get install -y time >/dev/null
fi

cargo build --release -p privgate -p privgate-benches --bins

target/release/gen --shape ndjson --bytes "$bytes" --seed 1 -o "$file"
size=$(stat -c %s "$file")

/usr/bin/time -v target/release/privgate mask --policy benches/policy --role tester \
  --route appointments "$file" > /dev/null 2> "$log"

summary=$(grep '^masked ' "$log")
elapsed=$(grep 'Elapsed (wall clock) time' "$log" | awk '{print $NF}')
rss_kb=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
secs=$(echo "$elapsed" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')

echo
echo "== privgate mask, $size bytes of NDJSON (benches/policy, role tester)"
echo "summary:   $summary"
echo "elapsed:   ${secs} s"
awk -v b="$size" -v s="$secs" 'BEGIN { printf "rate:      %.1f MB/s (%.1f MiB/s)\n", b / 1e6 / s, b / 1048576 / s }'
awk -v k="$rss_kb" 'BEGIN { printf "peak RSS:  %.1f MiB (%d KiB)\n", k / 1024, k }'

echo
echo "== the engine in process (ratios: NDJSON, typical plan, 64 KiB chunks, median of 7)"
cargo run --release -q -p privgate-benches --bin ratios > "$log"
grep -E '^\| (shape|ndjson +\| (typical|pass_through) )' "$log"
