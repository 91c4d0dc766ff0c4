#!/usr/bin/env bash
# Does the node's latency tail come from the other processes taking its CPU? The bench at 30 Hz with the node as it
# starts (A, nice 0) and with every thread of the node raised to nice -10 while it runs (B), alternating A B B A A B
# B A; training runs of this checkout (training.*) paused meanwhile. Each run's bench JSON under OUT/runNN_{A,B}/,
# vmstat (steal column) in OUT/vmstat.txt. Needs root (a lower nice). Table:
#   python3 scripts/spinning_table.py OUT/run*/bench.json
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/priority_ab}"; mkdir -p "$out"
source scripts/venv.sh test
source scripts/tail_probe/bench_ab.sh "$out"
raise_node() {  # every thread of the bench's node to nice -10, again as threads start
  while true; do
    for pid in $(pgrep -f ros_road_seg.node.node); do
      for task in /proc/"$pid"/task/*; do renice -n -10 -p "${task##*/}" > /dev/null 2>&1 || true; done
    done
    sleep 0.3
  done
}
n=0
for mode in A B B A A B B A; do
  n=$((n + 1)); name=run$(printf %02d $n)_$mode
  [ "$mode" = B ] && { raise_node & raiser=$!; }
  bench_30hz models/road_seg_default.onnx "$out/$name"
  [ "$mode" = B ] && kill "$raiser"
done
