#!/usr/bin/env bash
# The built-in pack's noise on a benign background: vigil-gen's time-driven model of several
# clusters (controllers, kubelets, CI ServiceAccounts, humans working by day, health probes)
# with no attacks at all, replayed cluster by cluster into one store with the whole pack,
# stateless and stateful. Prints a Markdown section: findings by severity, findings at medium or
# above per 100,000 events against the budget (at most 1), and the rules that contribute.
#
# Usage: bench/noise.sh VIGIL WORKDIR   (env: NOISE_DURATION, default 3d; NOISE_CLUSTERS, 3;
# NOISE_SEED, 11)
set -euo pipefail
VIGIL=$1
WORK=$2
DURATION=${NOISE_DURATION:-3d}
CLUSTERS=${NOISE_CLUSTERS:-3}
SEED=${NOISE_SEED:-11}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$WORK"
rm -rf "$WORK/noise" "$WORK/noise-db"
mkdir -p "$WORK/noise"
python3 "$ROOT/bench/vigil-gen" --duration "$DURATION" --clusters "$CLUSTERS" --nodes 3 \
  --humans 6 --attacks 0 --seed "$SEED" --split-by-cluster --out "$WORK/noise/benign.jsonl" \
  > /dev/null
EVENTS=0
for f in "$WORK"/noise/benign-*.jsonl; do
  cluster=$(basename "$f" .jsonl)
  cluster=${cluster#benign-}
  "$VIGIL" replay "$f" --cluster "$cluster" --db "$WORK/noise-db" --format jsonl \
    > /dev/null 2> "$WORK/noise/$cluster.err"
  n=$(grep -o '[0-9]* events parsed' "$WORK/noise/$cluster.err" | grep -o '^[0-9]*')
  EVENTS=$((EVENTS + n))
done
"$VIGIL" findings --db "$WORK/noise-db" --format jsonl > "$WORK/noise/findings.jsonl"

python3 - "$WORK/noise/findings.jsonl" "$EVENTS" "$DURATION" "$CLUSTERS" "$SEED" << 'EOF'
import collections, json, sys
path, events, duration, clusters, seed = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
order = ["critical", "high", "medium", "low", "info"]
by_sev = collections.Counter()
by_rule = collections.Counter()
for line in open(path):
    f = json.loads(line)
    by_sev[f["severity"]] += 1
    by_rule[(f["severity"], f["rule_id"])] += 1
alerting = sum(by_sev[s] for s in order[:3])
rate = alerting * 100000 / events if events else 0.0
print(f"Data: `vigil-gen --duration {duration} --clusters {clusters} --nodes 3 --humans 6 "
      f"--attacks 0 --seed {seed} --split-by-cluster` (no attacks), each cluster's file replayed "
      f"with `--cluster` into one store, whole pack (stateless and stateful): "
      f"{events:,} events.")
print()
print("| severity | findings |")
print("|---|---|")
for s in order:
    print(f"| {s} | {by_sev[s]:,} |")
print()
verdict = "within" if rate <= 1.0 else "OVER"
print(f"**Findings at medium or above: {alerting:,}, {rate:.2f} per 100,000 events** "
      f"({verdict} the budget of 1 per 100,000).")
print()
print("Rules that contribute (medium and above first, then the ten largest below):")
print()
print("| rule | severity | findings |")
print("|---|---|---|")
rows = sorted(by_rule.items(), key=lambda kv: (order.index(kv[0][0]) > 2, -kv[1], kv[0][1]))
shown_low = 0
for (sev, rule), n in rows:
    if order.index(sev) > 2:
        if shown_low == 10:
            continue
        shown_low += 1
    print(f"| `{rule}` | {sev} | {n:,} |")
EOF
