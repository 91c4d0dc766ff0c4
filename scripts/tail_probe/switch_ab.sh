#!/usr/bin/env bash
# Does the node's latency tail come from its two threads waiting for Python's GIL? The bench at 30 Hz with Python's
# switch interval as it comes (A, 5 ms) and at 0.5 ms (B: SWITCH_INTERVAL=0.0005, set in the bench and the node by
# scripts/tail_probe/sitecustomize.py, which both modes import), alternating A B B A A B B A; training runs (training.*)
# paused meanwhile. Each run's bench JSON under OUT/runNN_{A,B}/, vmstat (steal column) in OUT/vmstat.txt. Table:
#   python3 scripts/spinning_table.py --budget OUT/run*/bench.json
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/switch_ab}"; mkdir -p "$out"
source scripts/venv.sh test
source scripts/tail_probe/bench_ab.sh "$out"
export PYTHONPATH="$PWD/scripts/tail_probe${PYTHONPATH:+:$PYTHONPATH}"
n=0
for mode in ${MODES:-A B B A A B B A}; do
  n=$((n + 1)); name=run$(printf %02d $n)_$mode
  if [ "$mode" = B ]; then export SWITCH_INTERVAL=0.0005; else unset SWITCH_INTERVAL; fi
  bench_30hz models/road_seg_default.onnx "$out/$name"
done
