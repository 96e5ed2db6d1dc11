#!/usr/bin/env bash
# End-to-end benchmark, one command (`make bench`): builds Release, generates a realistic log,
# then measures on that same file, in one run: the ceilings (reading the file, simdjson DOM
# parse), Vigil parse-only, the stateless pack, the stateless + stateful pack with RocksDB, and
# the peers users would otherwise run (jq, Python json, nlohmann-json) on the same six rules,
# checking that every peer finds exactly what Vigil finds. Writes bench/results/latest.md.
#
# Environment: BENCH_DURATION (default 6d of event time, about 300k events), BENCH_SEED (3),
# BENCH_OUT (bench/results/latest.md), BENCH_PEERS (jq,python,nlohmann).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build/release
DURATION=${BENCH_DURATION:-6d}
SEED=${BENCH_SEED:-3}
OUT=${BENCH_OUT:-$ROOT/bench/results/latest.md}
PEERS=${BENCH_PEERS:-jq,python,nlohmann}
WORK=$(mktemp -d /tmp/vigil-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "== build (Release)"
cmake --preset release > "$WORK/cmake.log"
cmake --build "$BUILD" -j"$(nproc)" --target vigil parse_benchmark > "$WORK/build.log"
if ! cmake --build "$BUILD" -j"$(nproc)" --target nlohmann_rules >> "$WORK/build.log" 2>&1; then
  echo "   (nlohmann-json missing: that peer is skipped; deploy/install-deps.sh installs it)"
  PEERS=$(echo "$PEERS" | tr ',' '\n' | grep -v '^nlohmann$' | paste -sd, -)
fi
VIGIL=$BUILD/app/vigil

echo "== data: vigil-gen --duration $DURATION --clusters 2 --scenarios all --seed $SEED"
DATA=$WORK/audit.jsonl
python3 bench/vigil-gen --duration "$DURATION" --clusters 2 --nodes 2 --humans 5 \
  --scenarios all --seed "$SEED" --out "$DATA" --labels "$WORK/labels.jsonl" 2> /dev/null
EVENTS=$(wc -l < "$DATA")
BYTES=$(stat -c %s "$DATA")
echo "   $EVENTS events, $BYTES bytes"

# run NAME CMD...: wall seconds, CPU seconds and peak RSS of CMD (stdout to $WORK/NAME.out).
RESULTS=$WORK/results.tsv
: > "$RESULTS"
run() {
  local name=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
  read -r wall user sys rss < "$WORK/$name.time"
  printf '%s\t%s\t%s\t%s\n' "$name" "$wall" "$(awk "BEGIN{print $user + $sys}")" "$rss" >> "$RESULTS"
  echo "   $name: ${wall}s wall"
}

echo "== ceilings"
cat "$DATA" > /dev/null  # warm the page cache
run read dd if="$DATA" of=/dev/null bs=1M
VIGIL_BENCH_EVENTS=$DATA "$BUILD/bench/parse_benchmark" --benchmark_filter='DomCeiling|VigilParse$' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$WORK/micro.json" 2> /dev/null
echo "== vigil"
run vigil_parse "$VIGIL" replay "$DATA" --parse-only --format jsonl
run vigil_stateless "$VIGIL" replay "$DATA" --stateless --format jsonl
run vigil_stateful "$VIGIL" replay "$DATA" --db "$WORK/db" --format jsonl
echo "== peers ($PEERS)"
PEER_ARGS=()
for peer in ${PEERS//,/ }; do
  case $peer in
    jq) run peer_jq jq -c -f bench/peers/rules.jq "$DATA" ;;
    python) run peer_python python3 bench/peers/rules.py "$DATA" ;;
    nlohmann) run peer_nlohmann "$BUILD/bench/peers/nlohmann_rules" "$DATA" ;;
  esac
  PEER_ARGS+=(--peer-output "$peer=$WORK/peer_$peer.out")
done
echo "== agreement (the same (rule, auditID) pairs on every side)"
python3 bench/peers/agree.py "$DATA" --vigil-output "$WORK/vigil_stateless.out" \
  --peers "$PEERS" "${PEER_ARGS[@]}" | tee "$WORK/agree.txt"

mkdir -p "$(dirname "$OUT")"
python3 - "$RESULTS" "$WORK/micro.json" "$EVENTS" "$BYTES" "$DURATION" "$SEED" "$WORK/agree.txt" \
  > "$OUT" << 'EOF'
import json, platform, subprocess, sys
results, micro, events, nbytes, duration, seed, agree = sys.argv[1:]
events, nbytes = int(events), int(nbytes)
rows = {}
for line in open(results):
    name, wall, cpu, rss = line.split("\t")
    rows[name] = (float(wall), float(cpu), int(rss) / 1024)
m = {b["run_name"]: b for b in json.load(open(micro))["benchmarks"] if b.get("aggregate_name") == "mean"}
dom = next(b["items_per_second"] for n, b in m.items() if "DomCeiling" in n)
labels = {
    "read": "ceiling: read the file (dd, page cache)",
    "vigil_parse": "Vigil parse only",
    "vigil_stateless": "Vigil, stateless pack",
    "vigil_stateful": "Vigil, stateless + stateful pack, RocksDB",
    "peer_jq": "jq 1.6, 6 rules",
    "peer_python": "Python 3 json, 6 rules",
    "peer_nlohmann": "C++ nlohmann-json, 6 rules",
}
peers = [n for n in rows if n.startswith("peer_")]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
print("# Benchmark results\n")
print(f"`make bench` (bench/run.sh) on {platform.node()}: {cpu}, "
      f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores. "
      f"Data: `vigil-gen --duration {duration} --clusters 2 --nodes 2 --humans 5 --scenarios all "
      f"--seed {seed}`: {events} events, {nbytes / 1e6:.1f} MB. Each line is one process over "
      "the whole file (wall time, start-up and rule loading included).\n")
print(f"simdjson DOM parse of every event, no rules (the ceiling, Google Benchmark, one core): "
      f"**{dom / 1e3:,.0f}k events/s**.\n")
head = "| run | events/s | MB/s | CPU s | peak RSS MB | vs DOM ceiling |"
head += "".join(f" vs {labels[p].split(',')[0]} |" for p in peers)
print(head)
print("|" + "---|" * (5 + 1 + len(peers)))
for name, (wall, cpu_s, rss) in rows.items():
    eps = events / wall
    line = (f"| {labels[name]} | {eps:,.0f} | {nbytes / 1e6 / wall:,.1f} | {cpu_s:.2f} | {rss:.0f} | "
            f"{eps / dom:.0%} |")
    for p in peers:
        line += f" {rows[p][0] / wall:.1f}x |" if name.startswith("vigil") else " |"
    print(line)
print("\nAgreement of the peers with Vigil's stateless pack on the same six rules:\n")
print("```")
print(open(agree).read().rstrip())
print("```")
EOF
echo "== wrote $OUT"
cat "$OUT"
