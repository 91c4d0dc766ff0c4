# Sourced by the A/B probes here (priority_ab.sh, checkout_ab.sh): training runs (training.*) paused until the probe
# exits, vmstat (steal column) logged into OUT/vmstat.txt, and the one bench command every A/B run uses.
# Usage: source scripts/tail_probe/bench_ab.sh OUT
paused=$(pgrep -f "python -m training\." || true)
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused; kill $(jobs -p) 2>/dev/null || true' EXIT
vmstat 1 > "$1/vmstat.txt" &
bench_30hz() {  # model, run folder: the node at 30 Hz for 15 s beside the raw figure, bench.json in the folder
  python -m ros_road_seg.bench --model "$1" --node-modes thread --node-rates 30 --node-seconds 15 --iterations 100 \
    --course-iterations 1 --memory-frames 50 --out "$2" > "$2.log" 2>&1
}
