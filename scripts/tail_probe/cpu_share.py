"""Where the node's latency tail goes, part 2: every 2 s, the share of one core each Python process used since the
last sample (``/proc/PID/stat`` user + system time). Run beside a bench: ``python3 scripts/tail_probe/cpu_share.py >
cpu.log &`` (lines: unix time, then ``share pid command`` per process), stop it with ``kill``; then
``python3 scripts/tail_probe/cpu_share.py --summary cpu.log`` prints, as JSON, the node's and the bench's
shares over the samples in which the node was serving (using more than half a core)."""

import json
import os
import sys
import time

ROLES = {"node": "ros_road_seg.node", "bench": "ros_road_seg.bench"}


def sample_forever() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    last: dict[str, tuple[float, float]] = {}
    while True:
        now, rows = time.time(), []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as file:
                    command = file.read().replace(b"\0", b" ").decode(errors="replace")[:70]
                with open(f"/proc/{pid}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if "python" not in command or "cpu_share" in command:
                continue
            used = (int(fields[11]) + int(fields[12])) / ticks
            if pid in last:
                rows.append(f"{(used - last[pid][0]) / (now - last[pid][1]):.2f} {pid} {command}")
            last[pid] = (used, now)
        print(f"{now:.0f} " + " | ".join(rows), flush=True)
        time.sleep(2)


def summary(log: str) -> dict:
    serving: dict[str, list[float]] = {role: [] for role in ROLES}
    for line in open(log):
        shares = {}
        for entry in line.split(" ", 1)[1].split(" | ") if " " in line.strip() else []:
            share, _, command = entry.split(" ", 2)
            for role, marker in ROLES.items():
                if marker in command and "timeout" not in command:
                    shares[role] = float(share)
        if shares.get("node", 0.0) > 0.5:
            for role, share in shares.items():
                serving[role].append(share)
    return {
        "samples_while_serving": len(serving["node"]),
        **{f"{role}_cores": {"min": min(v, default=None), "max": max(v, default=None)} for role, v in serving.items()},
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--summary"]:
        print(json.dumps(summary(sys.argv[2]), indent=2))
    else:
        sample_forever()
