#!/usr/bin/env bash
# The same bench at 30 Hz from two checkouts of this repository (A, B: e.g. `git worktree add ../road_seg_a <commit>`),
# alternating A B B A A B B A, training runs (training.*) paused meanwhile; each checkout's own bench and node, the
# same model file. Usage: checkout_ab.sh DIR_A DIR_B OUT. Each run's bench JSON under OUT/runNN_{A,B}/, vmstat (steal
# column) in OUT/vmstat.txt. Table: python3 scripts/spinning_table.py OUT/run*/bench.json
set -euo pipefail
a="$(realpath "$1")"; b="$(realpath "$2")"; out="$(realpath -m "$3")"; mkdir -p "$out"
cd "$(dirname "$0")/../.."
source scripts/venv.sh test
model="$(realpath models/road_seg_default.onnx)"
source scripts/tail_probe/bench_ab.sh "$out"
n=0
for mode in A B B A A B B A; do
  n=$((n + 1)); name=run$(printf %02d $n)_$mode
  checkout=$a; [ "$mode" = B ] && checkout=$b
  (cd "$checkout" && bench_30hz "$model" "$out/$name")
done
