"""Sum the GC probe's logs (scripts/tail_probe/sitecustomize.py): per process, collections per generation, their
total and longest pause, over the whole process and over the node's serving window (the node's first to last
collection, which brackets the 30 Hz run). Prints JSON."""

import json
import sys
from pathlib import Path

processes = {}
for path in map(Path, sys.argv[1:]):
    lines = path.read_text().splitlines()
    command = lines[0][2:] if lines and lines[0].startswith("#") else "?"
    events = [(float(t), int(g), float(ms)) for t, g, ms, _ in (line.split() for line in lines if line[:1] != "#")]
    processes[path.stem] = {"command": command, "events": events}
node = next((p for p in processes.values() if "--ros-args" in p["command"]), None)
window = (node["events"][1][0], node["events"][-2][0]) if node and len(node["events"]) > 3 else None


def summary(events):
    out = {}
    for generation in (0, 1, 2):
        pauses = [ms for _, g, ms in events if g == generation]
        out[f"gen{generation}"] = {
            "count": len(pauses),
            "total_ms": round(sum(pauses), 1),
            "max_ms": round(max(pauses, default=0.0), 2),
        }
    return out


report = {"serving_window_s": round(window[1] - window[0], 1) if window else None, "processes": {}}
for name, process in processes.items():
    inside = [e for e in process["events"] if window and window[0] <= e[0] <= window[1]]
    report["processes"][name] = {
        "pauses_over_1ms_at_s_after_node_start": [
            [round(t - node["events"][0][0], 2), g, round(ms, 2)] for t, g, ms in process["events"] if ms > 1.0
        ]
        if node
        else [],
        "command": process["command"],
        "whole_run": summary(process["events"]),
        "serving_window": summary(inside),
    }
print(json.dumps(report, indent=2))
