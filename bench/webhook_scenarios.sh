#!/usr/bin/env bash
# The webhook under counted load (bench/webhook_load.cc drives it; bench/README.md, "Webhook").
# Three scenarios against `vigil serve` (full pack, RocksDB, synced WAL, grouped journal syncs),
# each with distinct 400-event EventLists (unique auditIDs) and a count afterwards of how many
# acknowledged events the store holds (`webhook_load check`, after the journal drained and the
# server stopped):
#   1. steady: REQUESTS bodies over CONNECTIONS keep-alive connections, as fast as answered:
#      accepted events/s, p50/p99/max, peak RSS; acknowledged = stored.
#   2. overload: twice the rate measured in 1, with webhook.max_backlog_bytes low (BACKLOG_KB):
#      the 429 count, peak RSS against RSS_LIMIT_MB, acknowledged = stored once load stops (the
#      generator resends each 429'd body after Retry-After, as the apiserver does).
#   3. kill -9: the load runs, vigil is killed once a third of it is acknowledged, restarted on
#      the same port (the generator resends what failed), drained: lost = acknowledged - stored
#      must be 0.
# Usage: bench/webhook_scenarios.sh VIGIL WEBHOOK_LOAD WORKDIR [REQUESTS] [CONNECTIONS] [EVENTS_JSONL]
#   EVENTS_JSONL: audit events to build the bodies from (bench/vigil-gen output); synthesised
#   when absent. Environment: BACKLOG_KB (1024), RSS_LIMIT_MB (1024), WEBHOOK_THREADS (16);
#   TLS=1 runs every scenario over https (a throwaway CA and server certificate made with openssl
#   in WORKDIR; webhook_load verifies it with --cacert).
set -euo pipefail
VIGIL=$1
LOAD=$2
WORK=$3
REQUESTS=${4:-20}
CONC=${5:-4}
EVENTS=${6:-}
BACKLOG_KB=${BACKLOG_KB:-1024}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-1024}
THREADS=${WEBHOOK_THREADS:-16}
TOKEN=bench-token
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
READER=bench-reader  # reads /metrics (credentials are configured, so it needs the read role)
READER_HASH=$(printf %s "$READER" | sha256sum | cut -d' ' -f1)
SCHEME=http
TLS_YAML=""
CLIENT_TLS_ARGS=""
CURL_TLS=()
mkdir -p "$WORK"
if [ "${TLS:-0}" = 1 ]; then
  SCHEME=https
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -out "$WORK/server.pem" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') 2>/dev/null
  TLS_YAML="  tls: {cert: $WORK/server.pem, key: $WORK/server.key}"
  CLIENT_TLS_ARGS="--cacert $WORK/ca.pem"
  CURL_TLS=(--cacert "$WORK/ca.pem")
fi
EVENTS_ARG=()
[ -n "$EVENTS" ] && EVENTS_ARG=(--events "$EVENTS")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() {
  curl -s "${CURL_TLS[@]}" -H "Authorization: Bearer $READER" "$SCHEME://127.0.0.1:$PORT/metrics" |
    awk -v m="$1" '$1==m {print $2}'
}
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# config NAME BACKLOG_BYTES: writes $WORK/NAME.yaml for a fresh DB $WORK/NAME-db.
config() {
  rm -rf "$WORK/$1-db"
  cat > "$WORK/$1.yaml" <<YAML
db: $WORK/$1-db
listen: 127.0.0.1:$PORT
log: {level: warn}
state: {dedup_retention: 100000h}
webhook:
  clusters: [{name: bench, token_sha256: "$HASH"}]
  threads: $THREADS
  max_backlog_bytes: $2
api:
  credentials: [{name: reader, token_sha256: "$READER_HASH", roles: [read]}]
$TLS_YAML
YAML
}

# start NAME: runs vigil serve in the background (PID), waits until it listens, samples VmHWM.
start() {
  "$VIGIL" serve --config "$WORK/$1.yaml" > "$WORK/$1.out" 2>> "$WORK/$1.err" &
  PID=$!
  for _ in $(seq 300); do grep -q "listening on" "$WORK/$1.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$WORK/$1.out" || { cat "$WORK/$1.err"; exit 1; }
  ( while kill -0 "$PID" 2>/dev/null; do
      # Kept only when read: the last look, as the process exits, finds no status.
      awk '/VmHWM/ {print $2}' "/proc/$PID/status" 2>/dev/null > "$WORK/$1.hwm.tmp" || true
      [ -s "$WORK/$1.hwm.tmp" ] && mv "$WORK/$1.hwm.tmp" "$WORK/$1.hwm" || true
      sleep 0.2
    done ) &
  SAMPLER=$!
}

# stop NAME: waits until the journal is drained (everything acknowledged applied and
# checkpointed), then SIGTERM; PEAK_MB is the peak RSS of this run.
stop() {
  for _ in $(seq 1200); do [ "$(metric vigil_webhook_journal_entries)" = "0" ] && break; sleep 0.1; done
  kill -TERM "$PID"; wait "$PID" || true
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
  local hwm
  hwm=$(cat "$WORK/$1.hwm" 2>/dev/null || true)
  PEAK_MB=$(( ${hwm:-0} / 1024 ))
}

send() {  # send NAME [extra webhook_load args...]: JSON in $WORK/NAME.json
  local name=$1; shift
  "$LOAD" send --url "$SCHEME://127.0.0.1:$PORT/v1/audit" --token "$TOKEN" $CLIENT_TLS_ARGS \
    "${EVENTS_ARG[@]}" --requests "$REQUESTS" --connections "$CONC" --id-prefix "$name" \
    --acked "$WORK/$name.acked" "$@" > "$WORK/$name.json" || true
}

check() {  # check NAME: JSON in $WORK/NAME.check.json
  "$LOAD" check --db "$WORK/$1-db" --cluster bench --acked "$WORK/$1.acked" \
    > "$WORK/$1.check.json" || true
}

row() {  # row NAME LABEL
  python3 - "$WORK/$1.json" "$WORK/$1.check.json" "$2" "$PEAK_MB" "$RSS_LIMIT_MB" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
label, peak, limit = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
st = s["by_status"]
print(f"| {label} | {s['acked_requests']}/{s['requests']} | {s['connections']} | "
      f"{s['rate'] or '-'} | {s['events_per_s']:,.0f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
      f"{s['max_ms']:.1f} | {st.get('429', 0)} | {st.get('connection_error', 0)} | "
      f"{peak} ({'<' if peak < limit else 'OVER'} {limit}) | {c['acknowledged']} | {c['stored']} | "
      f"{c['lost']} |")
PY
}

echo "| scenario | acked req | conns | rate req/s | accepted events/s | p50 ms | p99 ms | max ms | 429s | conn errors | peak RSS MB (limit) | acked events | stored | lost |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

# 1. Steady load, as fast as answered.
PORT=$(free_port)
config steady $((1 << 30))
start steady
send steady
stop steady
check steady
row steady "steady ($SCHEME)"
RATE=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(round(2*s["acked_requests"]/max(s["seconds"],1e-3),2))' "$WORK/steady.json")

# 2. Twice that rate against a small backlog.
PORT=$(free_port)
config overload $((BACKLOG_KB << 10))
start overload
send overload --rate "$RATE" --give-up 300
stop overload
check overload
row overload "2x overload, backlog ${BACKLOG_KB} KB"

# 3. kill -9 once a third is acknowledged; restart on the same port; the generator retries.
PORT=$(free_port)
config crash $((1 << 30))
start crash
send crash --give-up 300 &
SENDER=$!
THIRD=$(( REQUESTS * 400 / 3 ))
for _ in $(seq 3000); do
  [ -f "$WORK/crash.acked" ] && [ "$(wc -l < "$WORK/crash.acked")" -ge "$THIRD" ] && break
  kill -0 $SENDER 2>/dev/null || break
  sleep 0.05
done
KILLED_AT=$(cat "$WORK/crash.acked" 2>/dev/null | wc -l)
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
start crash
wait $SENDER || true
stop crash
check crash
row crash "kill -9 at $KILLED_AT acked events, restart"
echo
echo "Bodies: $REQUESTS distinct EventLists of 400 events (${EVENTS:-synthesised events})," \
  "unique auditIDs; stored = acknowledged (cluster, auditID, stage) found in the dedup index."
