#!/usr/bin/env bash
# One environment setting, with and without: the bench at 30 Hz as things are (A) and with VAR=VALUE exported (B) to
# the bench and the node it starts, alternating A B B A A B B A (MODES="B A A B B A A B" for the opposite order);
# training runs (training.*) paused meanwhile. scripts/tail_probe/sitecustomize.py, on PYTHONPATH in both modes, reads
# the settings it knows: SWITCH_INTERVAL=<s> (Python's GIL switch interval), SPIN_IN_RUN=1 (ONNX Runtime's threads
# spinning during a run only). Each run's bench JSON under OUT/runNN_{A,B}/, vmstat in OUT/vmstat.txt. Table:
#   python3 scripts/spinning_table.py --budget OUT/run*/bench.json
# Usage: bash scripts/tail_probe/env_ab.sh OUT VAR=VALUE
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -eq 2 && "$2" == *=* ]] || { echo "usage: env_ab.sh OUT VAR=VALUE" >&2; exit 2; }
out="$1"; setting="$2"; name="${setting%%=*}"
mkdir -p "$out"
source scripts/venv.sh test
source scripts/tail_probe/bench_ab.sh "$out"
export PYTHONPATH="$PWD/scripts/tail_probe${PYTHONPATH:+:$PYTHONPATH}"
n=0
for mode in ${MODES:-A B B A A B B A}; do
  n=$((n + 1))
  if [ "$mode" = B ]; then export "${setting?}"; else unset "$name"; fi
  bench_30hz models/road_seg_default.onnx "$out/run$(printf %02d $n)_$mode"
done
