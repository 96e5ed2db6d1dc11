#!/usr/bin/env python3
"""Writes bench/results/latest.md from the measurements of bench/run.sh (to stdout), and the
data file bench/scaling.gp plots. Python 3 standard library only."""
import argparse
import json
import platform
import subprocess

LABELS = {
    "read": "ceiling: read the file (dd, page cache)",
    "vigil_parse": "Vigil parse only",
    "vigil_six": "Vigil, the peers' 6 rules, 1 worker",
    "vigil_six_w2": "Vigil, the peers' 6 rules, 2 workers",
    "vigil_stateless_w1": "Vigil, stateless pack, 1 worker",
    "vigil_stateless_w2": "Vigil, stateless pack, 2 workers",
    "vigil_stateful_w1": "Vigil, stateless + stateful pack, RocksDB, 1 worker",
    "vigil_stateful_w2": "Vigil, stateless + stateful pack, RocksDB, 2 workers",
    "peer_jq": "jq, 6 rules",
    "peer_python": "Python 3 json, 6 rules",
    "peer_nlohmann": "C++ nlohmann-json, 6 rules",
}


MICRO_NAMES = {
    "BM_EnvelopeUnwrap/envelope:0": "envelope: bare event (one JSON line)",
    "BM_EnvelopeUnwrap/envelope:1": "envelope: EKS CloudWatch entry per event",
    "BM_EnvelopeUnwrap/envelope:2": "envelope: EKS subscription message, 4 events",
    "BM_EnvelopeUnwrap/envelope:3": "envelope: AKS diagnostic records",
    "BM_EnvelopeUnwrap/envelope:4": "envelope: GKE Cloud Audit LogEntry",
    "BM_RuleEvalOneRule": "rules: one rule (k8s.exec_into_pod), parsed events",
    "BM_RuleEvalBuiltinPack": "rules: whole stateless pack, parsed events",
}


def micro_name(name):
    base = "/".join(part for part in name.split("/")
                    if not part.startswith(("min_time:", "real_time")))
    if base in MICRO_NAMES:
        return MICRO_NAMES[base]
    if base.startswith("BM_StatefulUpdate/"):
        return "state update: " + base.split("/", 1)[1].replace("/", ", ")
    if base.startswith("BM_RocksDbCheckpoint/"):
        n = int(base.split(":")[-1])
        return f"RocksDB checkpoint: {n:,} state + {n:,} dedup entries per commit (items: entries)"
    return base


def load_benchmarks(path, aggregate=None):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if aggregate is not None and b.get("aggregate_name") != aggregate:
            continue
        out[b["run_name"] if aggregate else b["name"]] = b
    return out


def machine():
    cpu = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{platform.node()}: {cpu}, {cores} cores"


def main():
    p = argparse.ArgumentParser()
    for flag in ("results", "parse", "micro", "scaling", "duration", "agree",
                 "plot-data", "plot"):
        p.add_argument("--" + flag, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--seconds", type=int, required=True)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()

    rows = {}
    for line in open(a.results):
        name, wall, cpu, rss, pipeline = line.rstrip("\n").split("\t")
        rows[name] = (float(wall), float(cpu), int(rss) / 1024,
                      float(pipeline) if pipeline != "-" else None)
    parse = load_benchmarks(a.parse, aggregate="mean")
    dom = next(b["items_per_second"] for n, b in parse.items() if "DomCeiling" in n)
    vparse = next(b["items_per_second"] for n, b in parse.items() if "VigilParse" in n)
    peers = [n for n in rows if n.startswith("peer_")]
    mb = a.bytes / 1e6

    w1 = rows.get("vigil_stateless_w1")
    startup = w1[0] - w1[3] if w1 and w1[3] else float("nan")
    print("# Benchmark results\n")
    print(f"`make bench` (bench/run.sh) on {machine()}, in {a.seconds} s. Data: `vigil-gen "
          f"--duration {a.duration} --clusters 2 --nodes 2 --humans 5 --scenarios all --seed "
          f"{a.seed}`; the comparison below uses its first {a.events:,} events ({mb:.1f} MB). "
          f"Each line is one process over that file, the fastest of {a.repeat} runs (jq: one run). "
          "Events/s and MB/s are from wall time, so "
          f"start-up and rule loading ({startup:.2f} s for the whole pack here) are included; "
          "\"events/s in pipeline\" is Vigil's own figure without them.\n")
    print(f"simdjson DOM parse of every event, no rules (the ceiling, Google Benchmark, one core): "
          f"**{dom / 1e3:,.0f}k events/s**; Vigil's parser in the same harness: "
          f"{vparse / 1e3:,.0f}k events/s ({vparse / dom:.0%} of DOM).\n")

    head = ("| run | events/s | MB/s | CPU s | peak RSS MB | vs DOM ceiling | events/s in "
            "pipeline |")
    head += "".join(f" vs {LABELS[p].split(',')[0]} |" for p in peers)
    print(head)
    print("|" + "---|" * (7 + len(peers)))
    for name, (wall, cpu_s, rss, pipeline) in rows.items():
        eps = a.events / wall
        inner = f"{a.events / pipeline:,.0f}" if pipeline else ""
        line = (f"| {LABELS.get(name, name)} | {eps:,.0f} | {mb / wall:,.1f} | {cpu_s:.2f} | "
                f"{rss:.0f} | {eps / dom:.0%} | {inner} |")
        for peer in peers:
            line += f" {rows[peer][0] / wall:.1f}x |" if name.startswith("vigil") else " |"
        print(line)

    def ratio(x, y, col=0):
        if x not in rows or y not in rows or not rows[x][col] or not rows[y][col]:
            return float("nan")
        return rows[y][col] / rows[x][col]

    print("\nRatios in this run. Between Vigil runs: pipeline rate (wall time in brackets); "
          "against peers: wall time.\n")
    print(f"- stateless pack / parse only: {ratio('vigil_stateless_w1', 'vigil_parse', 3):.0%} "
          f"({ratio('vigil_stateless_w1', 'vigil_parse'):.0%})")
    print(f"- 2 workers / 1 worker: stateless "
          f"{ratio('vigil_stateless_w2', 'vigil_stateless_w1', 3):.2f}x "
          f"({ratio('vigil_stateless_w2', 'vigil_stateless_w1'):.2f}x), stateful "
          f"{ratio('vigil_stateful_w2', 'vigil_stateful_w1', 3):.2f}x "
          f"({ratio('vigil_stateful_w2', 'vigil_stateful_w1'):.2f}x)")
    for peer in peers:
        print(f"- Vigil vs {LABELS[peer]}, same rules, 1 worker: "
              f"{ratio('vigil_six', peer):.1f}x; 2 workers: {ratio('vigil_six_w2', peer):.1f}x "
              f"(whole stateless pack, 1 worker: {ratio('vigil_stateless_w1', peer):.1f}x)")

    print("\nAgreement of the peers with Vigil on the same six rules (`vigil replay --stateless "
          "--only ...`), and of Vigil's stateful runs at 1 and 2 workers:\n")
    print("```")
    print(open(a.agree).read().rstrip())
    print("identical findings at 1 and 2 workers (stateful, RocksDB)")
    print("```")

    # Scaling.
    scale = []
    for line in open(a.scaling):
        n, mode, w, secs, entries, writes = line.rstrip("\n").split("\t")
        scale.append((int(n), mode, int(w), float(secs), int(entries), int(writes)))
    print("\n## Scaling\n")
    print("The first N events of the same log, best of several runs. Rate and cost per event "
          "are the pipeline's own (start-up and rule loading excluded). State entries: the "
          "stateful detector's cache at the end; state writes: what its checkpoints wrote.\n")
    print("| events | rules | workers | events/s | µs per event | state entries | state writes |")
    print("|---|---|---|---|---|---|---|")
    with open(a.plot_data, "w") as dat:
        for mode in ("stateless", "stateful"):
            for w in (1, 2):
                dat.write(f'"{mode}, {w} worker{"s" if w > 1 else ""}"\n')
                for n, m, ww, secs, entries, writes in scale:
                    if m == mode and ww == w:
                        dat.write(f"{n} {n / secs:.0f}\n")
                dat.write("\n\n")
    for n, mode, w, secs, entries, writes in sorted(scale, key=lambda r: (r[0], r[1] != "stateless", r[2])):
        state = (f"{entries:,} | {writes:,}" if mode == "stateful" else "– | –")
        print(f"| {n:,} | {mode} | {w} | {n / secs:,.0f} | {secs / n * 1e6:.2f} | {state} |")
    print(f"\n![events/s against events]({a.plot.split('/')[-1]})\n")

    # Micro-benchmarks.
    print("## Micro-benchmarks\n")
    print("`micro_benchmark` (Google Benchmark, one core; bench/README.md says what each "
          "measures). Rule evaluation runs on the first 20,000 events of the comparison log.\n")
    print("| benchmark | items/s | ns per item |")
    print("|---|---|---|")
    for name, b in load_benchmarks(a.micro).items():
        ips = b.get("items_per_second")
        if not ips:
            continue
        print(f"| {micro_name(name)} | {ips:,.0f} | {1e9 / ips:,.0f} |")


if __name__ == "__main__":
    main()
