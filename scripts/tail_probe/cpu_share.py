"""Where the node's latency tail goes, part 2: every 2 s, the share of one core each Python process used since the
last sample (``/proc/PID/stat`` user + system time). Run beside a bench: ``python3 scripts/tail_probe/cpu_share.py >
/tmp/cpu.log &``; stop it with ``kill``. Lines: unix time, then ``share pid command`` per process."""

import os
import time

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
