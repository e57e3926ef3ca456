#!/usr/bin/env bash
# bench/run.sh - run weft-bench's in-process workloads RUNS times each and
# print every run plus the median per figure (ns/op, or the RSS line in kB).
#   bench/run.sh [WORKLOAD...]     (default: spawn alive pingpong oneshot mpsc timers
#                                   mutex broadcast watch)
# Runs are interleaved (all workloads, then again) so drift on a shared
# machine spreads over all of them.  Env: RUNS (default 5), BIN.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bench/weft-bench}
RUNS=${RUNS:-5}
[ -x "$BIN" ] || make -s bench
workloads=${*:-spawn alive pingpong oneshot mpsc timers mutex broadcast watch}
log=$(mktemp)
for ((r = 1; r <= RUNS; r++)); do
    for w in $workloads; do
        "$BIN" "$w" | tee -a "$log"
    done
done
echo "== medians of $RUNS runs ($(date -u +%Y-%m-%d), $(nproc) cores)"
med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Only the figure lines (ns/op or an RSS line); extra lines such as
# "watch deliveries: D" are printed above with every run.
grep -E 'ns/op|VmRSS' "$log" | cut -d: -f1 | sort -u | while IFS= read -r name; do
    lines=$(grep -F "$name:" "$log" | grep -E 'ns/op|VmRSS')
    if [[ "$name" == *rss* ]]; then
        echo "$name: $(awk '{print $(NF-1)}' <<<"$lines" | med) kB"
    else
        ns=$(sed 's/.*(\([0-9.]*\) ns\/op).*/\1/' <<<"$lines" | med)
        secs=$(sed 's/.* in \([0-9.]*\)s = .*/\1/' <<<"$lines" | med)
        echo "$name: $ns ns/op ($secs s)"
    fi
done
rm -f "$log"
