#!/usr/bin/env bash
# The same bench at 30 Hz from two checkouts of this repository (A, B: e.g. `git worktree add /tmp/a <commit>`),
# alternating A B B A A B B A, training runs (training.*) paused meanwhile; each checkout's own bench and node, the
# same model file. Usage: checkout_ab.sh DIR_A DIR_B OUT. Each run's bench JSON under OUT/runNN_{A,B}/, vmstat (steal
# column) in OUT/vmstat.txt. Table: python3 scripts/spinning_table.py OUT/run*/bench.json
set -euo pipefail
a="$(realpath "$1")"; b="$(realpath "$2")"; out="$(realpath -m "$3")"; mkdir -p "$out"
cd "$(dirname "$0")/../.."
source scripts/venv.sh test
model="$(realpath models/road_seg_default.onnx)"
paused=$(pgrep -f "python -m training\." || true)
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused; kill $(jobs -p) 2>/dev/null || true' EXIT
vmstat 1 > "$out/vmstat.txt" &
n=0
for mode in A B B A A B B A; do
  n=$((n + 1)); name=run$(printf %02d $n)_$mode
  checkout=$a; [ "$mode" = B ] && checkout=$b
  (cd "$checkout" && python -m ros_road_seg.bench --model "$model" --node-modes thread --node-rates 30 \
    --node-seconds 15 --iterations 100 --course-iterations 1 --memory-frames 50 --out "$out/$name" > "$out/$name.log" 2>&1)
done
