#!/usr/bin/env bash
# Issue 25, seventh session: the rotation's adapted models (scripts/camvid_rotation.sh, both seeds, mean+mirror
# teachers) moved back toward the pretrained network at the root of their chain (the Intel network as it comes:
# `training.interpolate --toward origin`) instead of toward their start (the KITTI-only model, which had already lost
# some of what the network knew about other cameras). No training: weights only, then every frame of the held-out
# sequence scored. ALPHAS="0.75 0.5" by default (0.75 is the shipped default's own WiSE-FT alpha, fixed before any
# score; 0.5 shows the slope); ALPHAS=0 on one run checks that the origin is the network as it comes (its zero-shot
# score). Resumable (each step skipped when its output exists). Table: python3 scripts/rotation_table.py toward_origin
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
CAMVID="$(realpath "$CAMVID")"
for tag in ${TAGS:-mean_flip mean_flip_seed1}; do
  for held in ${HELD_OUT:-0001TP 0006R0 0016E5}; do
    for setting in no_labels labels20; do
      run="runs/rotation_$tag/$held/$setting/run"
      for alpha in ${ALPHAS:-0.75 0.5}; do
        moved="runs/rotation_$tag/$held/$setting/toward_origin_a$alpha"
        [ -f "$moved/best.keras" ] || python -m training.interpolate "$run" --alpha "$alpha" --toward origin --out "$moved"
        [ -f "$moved/$held/eval_camvid_all.json" ] || python -m training.evaluate "$moved" --dataset camvid \
            --data "$CAMVID" --split all --only "${held}_*" --out "$moved/$held"
      done
    done
  done
done
