"""Node-at-30-Hz tables of docs/performance.md from bench JSON files (default: the spinning A/B runs in
docs/bench/spinning/; or the bench.json files given as arguments). --budget: a last column with each run's latency
budget (1.25 x (raw p50 + 10 ms))."""

import json
import sys
from pathlib import Path

rows = []
budget = "--budget" in sys.argv
for path in [Path(a) for a in sys.argv[1:] if a != "--budget"] or sorted(Path("docs/bench/spinning").glob("run*.json")):
    report = json.loads(path.read_text())
    raw = next(r for r in report["rows"] if r["pipeline"].startswith("b"))["p50_ms"]
    for label, runs in report["node"].items():
        run = runs["30 Hz"]
        stages = ", ".join(f"{k[6:-7]} {v:.1f}" for k, v in sorted(run["stages"].items()) if k.endswith("p99_ms"))
        rows.append(
            f"| {path.stem if path.stem != 'bench' else path.parent.name} | {label} | {raw:.1f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
            f"{100 * run['received_ratio']:.1f} % | {stages} |"
            + (f" {1.25 * (raw + 10):.1f} |" if budget else "")
        )
header = "| run (order) | node mode | raw p50 ms | node p50 ms | node p99 ms | served | node stage p99 ms |\n|---|---|---|---|---|---|---|"
if budget:
    header = header.replace(" |\n", " | budget p99 ms |\n") + "---|"
sys.stdout.write(header + "\n" + "\n".join(rows) + "\n")
