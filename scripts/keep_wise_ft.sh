#!/usr/bin/env bash
# WiSE-FT over the whole Intel network (training/recipes/keep_wiseft_intel_road.yaml): its KITTI block 4-fold and its
# CamVid model (through keep_tradeoff.sh), then both scored with the weights moved back toward the zero-shot network
# at each alpha (0: the network as it comes, 1: as fine-tuned). Resumable. Table: python3 scripts/keep_table.py wise_ft
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
setting=wiseft_intel_road
alphas=(${ALPHAS:-0 0.25 0.5 0.75 1})
SETTINGS=$setting bash scripts/keep_tradeoff.sh
[ -f "runs/keep/cv_$setting/crossval_wise_ft.json" ] || python -m training.crossval \
    --recipe "training/recipes/keep_$setting.yaml" --data "$KITTI" --out "runs/keep/cv_$setting" --interpolate "${alphas[@]}"
for alpha in "${alphas[@]}"; do
  out="runs/keep/camvid_${setting}_a$alpha"
  [ -f "$out/best.keras" ] || python -m training.interpolate "runs/keep/camvid_$setting" --alpha "$alpha" --out "$out"
  for seq in 0001TP 0006R0; do
    [ -f "$out/$seq/eval_camvid_all.json" ] || python -m training.evaluate "$out" --dataset camvid --data "$CAMVID" \
        --split all --only "${seq}_*" --out "$out/$seq"
  done
done
