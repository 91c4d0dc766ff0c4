#!/usr/bin/env bash
# Issue 25, seventh session: the rotation's adapted models (scripts/camvid_rotation.sh, both seeds, mean+mirror
# teachers) moved back toward the pretrained network at the root of their chain (the Intel network as it comes:
# `training.interpolate --toward origin`) instead of toward their start (the KITTI-only model, which had already lost
# some of what the network knew about other cameras). No training: weights only, then every frame of the held-out
# sequence scored. ALPHAS="0.75 0.5" by default (0.75 is the shipped default's own WiSE-FT alpha, fixed before any
# score; 0.5 shows the slope; 1 = the run as fine-tuned); ALPHAS=0 on one run checks that the origin is the network as
# it comes (its zero-shot score).
# Eighth session, CHOOSE=1 (with ALPHAS="0.25 0.5 0.75 1", the grid fixed beforehand): each moved model also scored on
# the 20 labelled frames of the adaptation sequences (runs/rotation/<held>/labelled, as a folder dataset: CamVid's road
# 3, 11 ignored), the frames a user would label, to see whether they choose alpha well (the held-out sequence judges;
# for the "20 labels" runs they are the frames trained on).
# Resumable (each step skipped when its output exists). Tables: python3 scripts/rotation_table.py mean_flip
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
CAMVID="$(realpath "$CAMVID")"
for tag in ${TAGS:-mean_flip mean_flip_seed1}; do
  for held in ${HELD_OUT:-0001TP 0006R0 0016E5}; do
    twenty="runs/rotation/$held/labelled_folder"
    if [ -n "${CHOOSE:-}" ] && [ ! -d "$twenty" ]; then
      mkdir -p "$twenty"; ln -s "$(realpath "runs/rotation/$held/labelled/train")" "$twenty/images"
      ln -s "$(realpath "runs/rotation/$held/labelled/trainannot")" "$twenty/masks"
    fi
    for setting in no_labels labels20; do
      run="runs/rotation_$tag/$held/$setting/run"
      for alpha in ${ALPHAS:-0.75 0.5}; do
        moved="runs/rotation_$tag/$held/$setting/toward_origin_a$alpha"
        if [ "$alpha" = 1 ]; then moved="$run"; fi
        [ -f "$moved/best.keras" ] || python -m training.interpolate "$run" --alpha "$alpha" --toward origin --out "$moved"
        [ -f "$moved/$held/eval_camvid_all.json" ] || python -m training.evaluate "$moved" --dataset camvid \
            --data "$CAMVID" --split all --only "${held}_*" --out "$moved/$held"
        [ -z "${CHOOSE:-}" ] || [ -f "$moved/labelled20/eval_folder_all.json" ] || python -m training.evaluate "$moved" \
            --dataset folder --road-id 3 --ignore-id 11 --data "$twenty" --split all --out "$moved/labelled20"
      done
    done
  done
done
