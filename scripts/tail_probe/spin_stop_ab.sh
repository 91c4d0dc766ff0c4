#!/usr/bin/env bash
# Does in-node inference lose time waking ONNX Runtime's sleeping threads at every operator? The bench at 30 Hz with
# the node as it is (A: intra-op threads never spin) and with them spinning during a run only (B: SPIN_IN_RUN=1, set
# in the bench and the node by scripts/tail_probe/sitecustomize.py, which both modes import: allow_spinning 1 and
# session.force_spinning_stop 1), alternating A B B A A B B A; training runs (training.*) paused meanwhile. Each
# run's bench JSON under OUT/runNN_{A,B}/, vmstat in OUT/vmstat.txt. Table:
#   python3 scripts/spinning_table.py --budget OUT/run*/bench.json
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/spin_stop_ab}"; mkdir -p "$out"
source scripts/venv.sh test
source scripts/tail_probe/bench_ab.sh "$out"
export PYTHONPATH="$PWD/scripts/tail_probe${PYTHONPATH:+:$PYTHONPATH}"
n=0
for mode in ${MODES:-A B B A A B B A}; do
  n=$((n + 1)); name=run$(printf %02d $n)_$mode
  if [ "$mode" = B ]; then export SPIN_IN_RUN=1; else unset SPIN_IN_RUN; fi
  bench_30hz models/road_seg_default.onnx "$out/$name"
done
