#!/usr/bin/env python3
# Agreement check: runs Vigil (`replay --stateless --format jsonl`) and the peers (rules.jq,
# rules.py, nlohmann_rules) on one audit log and compares their sets of (rule, auditID) for the
# six rules the peers implement. Prints counts per rule per side and wall time; exits 1 on any
# difference (printing it), 2 on a usage or run error.
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RULES = (
    "k8s.exec_into_pod",
    "k8s.secrets_list_all_namespaces",
    "k8s.privileged_pod",
    "k8s.cluster_admin_binding",
    "k8s.anonymous_request_allowed",
    "k8s.debug_image_pod",
)
ALL_PEERS = ("jq", "python", "nlohmann")
NLOHMANN_CANDIDATES = (
    "build/release/bench/peers/nlohmann_rules",
    "build/relwithdebinfo/bench/peers/nlohmann_rules",
    "build/peers/peers/nlohmann_rules",
    "build/peers/nlohmann_rules",
)


def fail(msg):
    print(f"agree: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd, out_path):
    """Runs cmd with stdout to out_path; returns wall seconds."""
    start = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
    secs = time.monotonic() - start
    if proc.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}: "
             f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return secs


def read_jsonl(path):
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as e:
                    fail(f"{path}:{n}: not JSON: {e}")


def vigil_pairs(path):
    pairs = set()
    for f in read_jsonl(path):
        if f.get("rule_id") in RULES:
            for aid in f.get("evidence") or []:
                pairs.add((f["rule_id"], aid))
    return pairs


def peer_pairs(path):
    return {(m["rule"], m["auditID"]) for m in read_jsonl(path)}


def find_nlohmann(explicit):
    if explicit:
        return explicit
    for c in NLOHMANN_CANDIDATES:
        p = REPO / c
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("file", help="audit log, JSON lines")
    ap.add_argument("--vigil", default=os.environ.get("VIGIL",
                                                       str(REPO / "build/release/app/vigil")))
    ap.add_argument("--vigil-rules", action="append", default=[],
                    help="rule file(s) for vigil replay --rules (default: the built-in pack)")
    ap.add_argument("--vigil-output", help="read Vigil's jsonl findings from here, do not run it")
    ap.add_argument("--nlohmann", help="nlohmann_rules binary (default: searched under build/)")
    ap.add_argument("--jq", default="jq")
    ap.add_argument("--peers", default=",".join(ALL_PEERS),
                    help="comma-separated subset of " + ",".join(ALL_PEERS))
    ap.add_argument("--peer-output", action="append", default=[], metavar="PEER=FILE",
                    help="read a peer's output from FILE instead of running it")
    ap.add_argument("--workdir", help="keep outputs here (default: a temp dir, removed)")
    args = ap.parse_args()

    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in ALL_PEERS:
            fail(f"unknown peer {p!r} (want {', '.join(ALL_PEERS)})")
    given = {}
    for spec in args.peer_output:
        name, _, path = spec.partition("=")
        if name not in ALL_PEERS or not path:
            fail(f"bad --peer-output {spec!r}")
        given[name] = path
    if not os.path.isfile(args.file):
        fail(f"no such file: {args.file}")

    import tempfile
    tmp = args.workdir or tempfile.mkdtemp(prefix="vigil-agree-")
    os.makedirs(tmp, exist_ok=True)
    with open(args.file, "rb") as f:
        events = sum(1 for line in f if line.strip())

    sides = {}   # name -> set of (rule, auditID)
    timing = {}  # name -> seconds
    if args.vigil_output:
        sides["vigil"] = vigil_pairs(args.vigil_output)
    else:
        if not os.access(args.vigil, os.X_OK):
            fail(f"no vigil binary at {args.vigil} (--vigil or $VIGIL)")
        cmd = [args.vigil, "replay", args.file, "--stateless", "--format", "jsonl"]
        for r in args.vigil_rules:
            cmd += ["--rules", r]
        out = os.path.join(tmp, "vigil.jsonl")
        timing["vigil"] = run(cmd, out)
        sides["vigil"] = vigil_pairs(out)

    for p in peers:
        if p in given:
            sides[p] = peer_pairs(given[p])
            continue
        if p == "jq":
            if shutil.which(args.jq) is None:
                fail(f"{args.jq} not found")
            cmd = [args.jq, "-c", "-f", str(HERE / "rules.jq"), args.file]
        elif p == "python":
            cmd = [sys.executable, str(HERE / "rules.py"), args.file]
        else:
            binary = find_nlohmann(args.nlohmann)
            if binary is None:
                fail("nlohmann_rules not built (build target nlohmann_rules, or pass --nlohmann, "
                     "or leave it out of --peers)")
            cmd = [binary, args.file]
        out = os.path.join(tmp, f"{p}.jsonl")
        timing[p] = run(cmd, out)
        sides[p] = peer_pairs(out)

    names = list(sides)
    print(f"agree: {args.file}: {events} events")
    width = max(len(r) for r in RULES)
    print(f"{'rule':<{width}}  " + "  ".join(f"{n:>8}" for n in names))
    for r in RULES:
        counts = [sum(1 for (rule, _) in sides[n] if rule == r) for n in names]
        print(f"{r:<{width}}  " + "  ".join(f"{c:>8}" for c in counts))
    print(f"{'total':<{width}}  " + "  ".join(f"{len(sides[n]):>8}" for n in names))
    for n in names:
        if n in timing:
            rate = events / timing[n] if timing[n] > 0 else float("inf")
            print(f"time {n:<9} {timing[n]:8.3f} s  {rate:12,.0f} events/s")

    ref = sides["vigil"]
    if not ref:
        print("agree: warning: Vigil matched none of the six rules; agreement is vacuous",
              file=sys.stderr)
    bad = False
    for n in names[1:]:
        only_vigil = sorted(ref - sides[n])
        only_peer = sorted(sides[n] - ref)
        if not only_vigil and not only_peer:
            continue
        bad = True
        print(f"DISAGREE vigil vs {n}: {len(only_vigil)} only in vigil, "
              f"{len(only_peer)} only in {n}")
        for rule, aid in only_vigil[:50]:
            print(f"  only vigil: {rule} {aid}")
        for rule, aid in only_peer[:50]:
            print(f"  only {n}: {rule} {aid}")
    if not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    if bad:
        return 1
    print("agree: all sides agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
