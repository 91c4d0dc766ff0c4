#!/usr/bin/env bash
# Issue 25's measurement: CamVid as "your camera". Start from a KITTI-only model (runs/keep/camvid_none: the keep_none
# recipe on all KITTI frames, no CamVid in its training), adapt on two CamVid sequences' frames WITHOUT their labels,
# then again with 20 of their labelled frames, and score on every frame of the third sequence (never used). Rotated
# over the three sequences. Resumable (training.adapt continues each stage). Table: python3 scripts/rotation_table.py
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
CAMVID="$(realpath "$CAMVID")"
START=runs/keep/camvid_none/best.keras
TEACHERS=(runs/keep/intel_road_192x608.onnx runs/keep/intel_road_384x1216.onnx)
for held in 0001TP 0006R0 0016E5; do
  root="runs/rotation/$held"
  if [ ! -d "$root/frames" ]; then  # every 2nd frame of the two other sequences, unlabelled
    mkdir -p "$root/frames" "$root/labelled/train" "$root/labelled/trainannot"
    n=0
    for image in "$CAMVID"/train/*.png "$CAMVID"/val/*.png; do
      name=$(basename "$image"); [[ "$name" == "$held"* ]] && continue
      n=$((n + 1)); [ $((n % 2)) -eq 0 ] && ln -s "$image" "$root/frames/$name"
    done
    for seq in 0001TP 0006R0 0016E5; do  # 10 labelled frames from each adaptation sequence, evenly spread
      [ "$seq" = "$held" ] && continue
      mapfile -t chosen < <(ls "$CAMVID"/train/"$seq"*.png | awk 'NR % 6 == 1' | head -10)
      for image in "${chosen[@]}"; do
        ln -s "$image" "$root/labelled/train/"; ln -s "$CAMVID/trainannot/$(basename "$image")" "$root/labelled/trainannot/"
      done
    done
  fi
  common=(--frames "$root/frames" --start "$START" --teacher "${TEACHERS[@]}" --evaluate-on "$CAMVID"
    --evaluate-dataset camvid --evaluate-only "${held}_*" --epochs 8)
  python -m training.adapt "${common[@]}" --out "$root/no_labels"
  python -m training.adapt "${common[@]}" --labelled "$root/labelled" --labelled-dataset camvid --out "$root/labels20"
done
for held in 0001TP 0006R0 0016E5; do  # the network as it comes on the same frames, for the table
  [ -f "runs/keep/camvid_zero_shot/$held/eval_camvid_all.json" ] || python -m training.evaluate \
      runs/keep/intel_road_192x608.onnx --dataset camvid --data "$CAMVID" --split all --only "${held}_*" \
      --out "runs/keep/camvid_zero_shot/$held"
done
