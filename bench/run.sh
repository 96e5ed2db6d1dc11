#!/usr/bin/env bash
# End-to-end benchmark, one command (`make bench`): builds Release, generates a realistic
# multi-week log, then measures, in one run on the same data:
#   - the ceilings (reading the file, simdjson DOM parse), Vigil parse-only, the stateless pack
#     and the stateless + stateful pack with RocksDB, at 1 and 2 worker threads, and the peers
#     users would otherwise run (jq, Python json, nlohmann-json) on the same six rules, checking
#     that every peer finds exactly what Vigil finds;
#   - the micro-benchmarks (parse, envelopes, rules, state updates, the RocksDB checkpoint);
#   - scaling: the first 10k, 100k and 1M events of the log, stateless and stateful, 1 and 2
#     workers, so the cost per event can be read against the log's length and the state's size;
#   - noise: the built-in pack's findings on a benign 3-day, 3-cluster background with no attacks
#     (bench/noise.sh), at medium or above per 100,000 events against the budget of 1.
# Writes bench/results/latest.md and bench/results/scaling.png (gnuplot).
#
# Environment: BENCH_DURATION (event time generated, default 21d: about 1M events),
# BENCH_MAIN_EVENTS (events of the main comparison, default 300000), BENCH_SCALE (default
# "10000 100000 1000000"), BENCH_SEED (3), BENCH_OUT (bench/results/latest.md),
# BENCH_PEERS (jq,python,nlohmann), BENCH_REPEAT (runs per measurement, the fastest kept; 3;
# jq runs once).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build/release
DURATION=${BENCH_DURATION:-21d}
MAIN_EVENTS=${BENCH_MAIN_EVENTS:-300000}
SCALE=${BENCH_SCALE:-10000 100000 1000000}
SEED=${BENCH_SEED:-3}
OUT=${BENCH_OUT:-$ROOT/bench/results/latest.md}
PLOT=$(dirname "$OUT")/scaling.png
PEERS=${BENCH_PEERS:-jq,python,nlohmann}
REPEAT=${BENCH_REPEAT:-3}
WORK=$(mktemp -d /tmp/vigil-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
T0=$(date +%s)

echo "== build (Release)"
cmake --preset release > "$WORK/cmake.log"
cmake --build "$BUILD" -j"$(nproc)" --target vigil parse_benchmark micro_benchmark kafka_bench \
  > "$WORK/build.log"
if ! cmake --build "$BUILD" -j"$(nproc)" --target nlohmann_rules >> "$WORK/build.log" 2>&1; then
  echo "   (nlohmann-json missing: that peer is skipped; deploy/install-deps.sh installs it)"
  PEERS=$(echo "$PEERS" | tr ',' '\n' | grep -v '^nlohmann$' | paste -sd, -)
fi
VIGIL=$BUILD/app/vigil

echo "== data: vigil-gen --duration $DURATION --clusters 2 --scenarios all --seed $SEED"
ALL=$WORK/all.jsonl
python3 bench/vigil-gen --duration "$DURATION" --clusters 2 --nodes 2 --humans 5 \
  --scenarios all --seed "$SEED" --out "$ALL" --labels "$WORK/labels.jsonl" 2> /dev/null
DATA=$WORK/audit.jsonl
head -n "$MAIN_EVENTS" "$ALL" > "$DATA"
EVENTS=$(wc -l < "$DATA")
BYTES=$(stat -c %s "$DATA")
echo "   $(wc -l < "$ALL") events generated; the main comparison uses the first $EVENTS" \
  "($BYTES bytes)"

# run NAME CMD...: wall seconds, CPU seconds and peak RSS of CMD, and for vigil the pipeline's
# own seconds (start-up and rule loading excluded) from its summary (stdout to $WORK/NAME.out).
# Best (lowest wall) of $REPEAT runs; RUNS=1 before it for one. Stores ($WORK/db-*) start empty.
RESULTS=$WORK/results.tsv
: > "$RESULTS"
run() {
  local name=$1
  shift
  local best="" t0 t1 wall pipeline user sys rss
  for _ in $(seq "${RUNS:-$REPEAT}"); do
    rm -rf "$WORK"/db-*
    t0=$(date +%s%N)
    /usr/bin/time -f "%U %S %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
    t1=$(date +%s%N)
    read -r user sys rss < "$WORK/$name.time"
    wall=$(awk "BEGIN{printf \"%.4f\", ($t1 - $t0) / 1e9}")
    pipeline=$(grep -oP '; \K[0-9.]+(?= s, [0-9]+ events/s)' "$WORK/$name.err" || true)
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < ${best%% *})}"; then
      best="$wall $(awk "BEGIN{print $user + $sys}") $rss ${pipeline:--}"
    fi
  done
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" $best >> "$RESULTS"
  echo "   $name: ${best%% *}s wall"
}

echo "== ceilings"
cat "$DATA" > /dev/null  # warm the page cache
run read dd if="$DATA" of=/dev/null bs=1M status=none
VIGIL_BENCH_EVENTS=$DATA "$BUILD/bench/parse_benchmark" --benchmark_filter='DomCeiling|VigilParse$' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$WORK/parse.json" 2> /dev/null
echo "== vigil"
run vigil_parse "$VIGIL" replay "$DATA" --parse-only --format jsonl
# The peers' six rules only (bench/peers/agree.py lists them): the like-for-like comparison.
SIX=$(python3 -c 'import sys; sys.path.insert(0, "bench/peers"); import agree; print(",".join(agree.RULES))')
run vigil_six "$VIGIL" replay "$DATA" --stateless --only "$SIX" --workers 1 --format jsonl
run vigil_six_w2 "$VIGIL" replay "$DATA" --stateless --only "$SIX" --workers 2 --format jsonl
for w in 1 2; do
  run "vigil_stateless_w$w" "$VIGIL" replay "$DATA" --stateless --workers "$w" --format jsonl
  run "vigil_stateful_w$w" "$VIGIL" replay "$DATA" --db "$WORK/db-$w" --workers "$w" --format jsonl
done
echo "== peers ($PEERS)"
PEER_ARGS=()
for peer in ${PEERS//,/ }; do
  case $peer in
    jq) RUNS=1 run peer_jq jq -c -f bench/peers/rules.jq "$DATA" ;;  # 30 s: once
    python) run peer_python python3 bench/peers/rules.py "$DATA" ;;
    nlohmann) run peer_nlohmann "$BUILD/bench/peers/nlohmann_rules" "$DATA" ;;
  esac
  PEER_ARGS+=(--peer-output "$peer=$WORK/peer_$peer.out")
done
echo "== agreement (the same (rule, auditID) pairs on every side)"
python3 bench/peers/agree.py "$DATA" --vigil-output "$WORK/vigil_six.out" \
  --peers "$PEERS" "${PEER_ARGS[@]}" | tee "$WORK/agree.txt"
# The stateful runs must agree with each other too: the same findings at 1 and 2 workers.
if ! cmp -s "$WORK/vigil_stateful_w1.out" "$WORK/vigil_stateful_w2.out"; then
  echo "FAIL: Vigil's findings differ between 1 and 2 workers" >&2
  exit 1
fi
echo "   Vigil at 1 and 2 workers: identical findings"

echo "== micro-benchmarks"
# Rule evaluation runs on the comparison log; the other rows use their own fixed inputs.
VIGIL_BENCH_EVENTS=$DATA "$BUILD/bench/micro_benchmark" --benchmark_format=json \
  > "$WORK/micro.json" 2> /dev/null

echo "== scaling ($SCALE events; best of $REPEAT)"
SCALING=$WORK/scaling.tsv
: > "$SCALING"
for n in $SCALE; do
  head -n "$n" "$ALL" > "$WORK/scale.jsonl"
  got=$(wc -l < "$WORK/scale.jsonl")
  for mode in stateless stateful; do
    for w in 1 2; do
      best=""
      for _ in $(seq "$REPEAT"); do
        rm -rf "$WORK/scale-db"
        args=(--workers "$w" --format jsonl)
        if [ "$mode" = stateless ]; then args+=(--stateless); else args+=(--db "$WORK/scale-db"); fi
        "$VIGIL" replay "$WORK/scale.jsonl" "${args[@]}" > /dev/null 2> "$WORK/scale.err"
        # The pipeline's own rate (start-up and rule loading excluded), and the state's size.
        line=$(python3 - "$WORK/scale.err" << 'EOF'
import re, sys
text = open(sys.argv[1]).read()
secs = float(re.search(r"; ([0-9.]+) s, [0-9]+ events/s", text).group(1))
m = re.search(r"([0-9]+) entries \(", text)
w = re.search(r"([0-9]+) state writes", text)
print(secs, m.group(1) if m else 0, w.group(1) if w else 0)
EOF
)
        read -r secs entries writes <<< "$line"
        if [ -z "$best" ] || awk "BEGIN{exit !($secs < ${best%% *})}"; then best="$secs $entries $writes"; fi
      done
      read -r secs entries writes <<< "$best"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$got" "$mode" "$w" "$secs" "$entries" "$writes" >> "$SCALING"
      echo "   $got events, $mode, $w worker(s): ${secs}s"
    done
  done
done
rm -f "$WORK/scale.jsonl"

KAFKA_RECORDS=${BENCH_KAFKA_RECORDS:-200000}
echo "== kafka: vigil serve consuming a mock broker, against the consumer-only ceiling" \
  "($KAFKA_RECORDS records)"
{
  echo "### Produced while consumed (8 partitions)"
  echo
  "$BUILD/bench/kafka_bench" --vigil "$VIGIL" --events "$ALL" --records "$KAFKA_RECORDS" \
    --workdir "$WORK" --partitions 8
  echo
  echo "### All produced first (64 partitions), then consumed"
  echo
  "$BUILD/bench/kafka_bench" --vigil "$VIGIL" --events "$ALL" --records "$KAFKA_RECORDS" \
    --workdir "$WORK" --partitions 64 --prefill 1
} > "$WORK/kafka.md"
cat "$WORK/kafka.md"

echo "== webhook: hey POSTing 400-event EventLists to vigil serve, journal grouped and not"
bash bench/webhook_bench.sh "$VIGIL" "$ALL" "$WORK" "${BENCH_WEBHOOK_REQUESTS:-2000}" 16 \
  > "$WORK/webhook.md"
cat "$WORK/webhook.md"

echo "== noise: the built-in pack on a benign background (no attacks)"
bash bench/noise.sh "$VIGIL" "$WORK" > "$WORK/noise.md"
cat "$WORK/noise.md"

mkdir -p "$(dirname "$OUT")"
python3 bench/report.py --results "$RESULTS" --parse "$WORK/parse.json" \
  --micro "$WORK/micro.json" --scaling "$SCALING" \
  --events "$EVENTS" --bytes "$BYTES" --duration "$DURATION" --seed "$SEED" \
  --agree "$WORK/agree.txt" --plot-data "$WORK/plot.dat" --plot "$PLOT" \
  --repeat "$REPEAT" --seconds "$(( $(date +%s) - T0 ))" > "$OUT"
{
  echo
  echo "## Kafka end to end (\`bench/kafka_bench\`)"
  echo
  cat "$WORK/kafka.md"
  echo
  echo "## Webhook (\`bench/webhook_bench.sh\`)"
  echo
  cat "$WORK/webhook.md"
  echo
  echo "## Noise of the built-in pack (\`bench/noise.sh\`)"
  echo
  cat "$WORK/noise.md"
} >> "$OUT"
if command -v gnuplot > /dev/null; then
  gnuplot -e "data='$WORK/plot.dat'; out='$PLOT'" bench/scaling.gp
  echo "== wrote $OUT and $PLOT"
else
  echo "== wrote $OUT (gnuplot missing: no plot; deploy/install-deps.sh installs it)"
fi
cat "$OUT"
