#!/usr/bin/env bash
# The apiserver webhook under load: `hey` POSTs 400-event EventList bodies over keep-alive plain
# HTTP on loopback to `vigil serve` (full pack, RocksDB with synced WAL), with the journal's
# group commit on and off. Reports accepted events/s, p50/p99 latency, peak RSS, journal syncs
# per append, and checks after the load that every acknowledged event was applied (the journal
# drains to 0 and vigil_events_parsed_total equals what was acknowledged).
# Counting every acknowledged event (distinct bodies, overload, kill -9): bench/webhook_scenarios.sh.
# Usage: bench/webhook_bench.sh VIGIL EVENTS_JSONL WORKDIR [REQUESTS] [CONCURRENCY]
set -euo pipefail
VIGIL=$1
EVENTS=$2
WORK=$3
REQUESTS=${4:-2000}
CONC=${5:-16}
TOKEN=bench-token
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
READER=bench-reader  # reads /metrics (credentials are configured, so it needs the read role)
READER_HASH=$(printf %s "$READER" | sha256sum | cut -d' ' -f1)

# One body of 400 distinct events (the apiserver's default batch size).
python3 - "$EVENTS" "$WORK/body.json" <<'PY'
import sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip()][:400]
open(sys.argv[2], "w").write('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[' +
                             ",".join(lines) + "]}")
PY
BODY_BYTES=$(stat -c %s "$WORK/body.json")

metric() {
  curl -s -H "Authorization: Bearer $READER" "http://127.0.0.1:$PORT/metrics" |
    awk -v m="$1" '$1==m {print $2}'
}

echo "| journal | requests | concurrency | accepted events/s | MB/s | p50 ms | p99 ms | syncs per append | peak RSS MB | applied = acknowledged |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for GROUP in true false; do
  DB="$WORK/webhook-db-$GROUP"
  rm -rf "$DB"
  cat > "$WORK/webhook.yaml" <<YAML
db: $DB
listen: 127.0.0.1:0
log: {level: warn}
webhook:
  clusters: [{name: bench, token_sha256: "$HASH"}]
  group_commit: $GROUP
  threads: 16
api:
  credentials: [{name: reader, token_sha256: "$READER_HASH", roles: [read]}]
YAML
  "$VIGIL" serve --config "$WORK/webhook.yaml" > "$WORK/serve.out" 2> "$WORK/serve.err" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.out")
  PEAK=0
  ( while kill -0 $PID 2>/dev/null; do
      awk '/VmHWM/ {print $2}' /proc/$PID/status 2>/dev/null > "$WORK/hwm.tmp" || true
      [ -s "$WORK/hwm.tmp" ] && mv "$WORK/hwm.tmp" "$WORK/hwm"; sleep 0.2
    done ) &
  SAMPLER=$!
  hey -n "$REQUESTS" -c "$CONC" -m POST -T application/json \
    -H "Authorization: Bearer $TOKEN" -D "$WORK/body.json" \
    "http://127.0.0.1:$PORT/v1/audit" > "$WORK/hey.txt"
  RPS=$(awk '/Requests\/sec:/ {print $2}' "$WORK/hey.txt")
  P50=$(awk '/ 50% in/ {print $3}' "$WORK/hey.txt")
  P99=$(awk '/ 99% in/ {print $3}' "$WORK/hey.txt")
  OK=$(awk '/\[200\]/ {print $2}' "$WORK/hey.txt")
  OK=${OK:-0}
  # Every acknowledged event applied: the journal drains and the pipeline saw them all.
  for _ in $(seq 600); do
    [ "$(metric vigil_webhook_journal_entries)" = "0" ] && break; sleep 0.1
  done
  ACKED=$(metric vigil_webhook_events_total)
  PARSED=$(metric vigil_events_parsed_total)
  APPENDS=$(metric vigil_webhook_journal_appends_total)
  SYNCS=$(metric vigil_webhook_journal_syncs_total)
  kill -TERM $PID; wait $PID || true
  kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
  PEAK=$(cat "$WORK/hwm" 2>/dev/null || echo 0)
  python3 - "$RPS" "$P50" "$P99" "$OK" "$ACKED" "$PARSED" "$APPENDS" "$SYNCS" "$PEAK" \
      "$BODY_BYTES" "$GROUP" "$REQUESTS" "$CONC" <<'PY'
import sys
rps, p50, p99, ok, acked, parsed, appends, syncs, peak, body, group, n, c = sys.argv[1:]
rps = float(rps or 0)
applied = "yes" if acked and acked == parsed else f"NO ({parsed or '?'} of {acked or '?'})"
print(f"| {'grouped' if group == 'true' else 'one sync each'} | {n} ({ok} × 200) | {c} | "
      f"{rps * 400:,.0f} | {rps * int(body) / 1e6:.1f} | {float(p50 or 0) * 1000:.1f} | "
      f"{float(p99 or 0) * 1000:.1f} | {int(syncs or 0) / max(1, int(appends or 1)):.2f} | "
      f"{int(peak or 0) / 1024:.0f} | {applied} |")
PY
done
echo
echo "Each request is the same 400-event body (${BODY_BYTES} bytes), so after the first the pipeline"
echo "applies duplicates (dedup); the durable acknowledgement is what is measured. Plain HTTP on"
echo "loopback; hey runs on the same 2 cores."
