#!/usr/bin/env bash
# Issue 25, eighth session: can your own few labelled frames choose how far the adapted weights move back toward the
# network as it comes (WiSE-FT alpha), instead of the fixed 0.75? For each rotation cell (both seeds, no labels and
# 20 labels) the adapted run is moved toward its origin at each alpha of a grid fixed beforehand (0.25 0.5 0.75 1;
# 1 = the run as fine-tuned), and each is scored on the 20 labelled frames of the adaptation sequences
# (runs/rotation/<held>/labelled: the frames a user would label) and on every frame of the held-out sequence. The
# choice is made on the 20 frames only; the held-out sequence says whether it was a good one. For "no labels" the 20
# frames were never trained on (a user who labels 20 frames and keeps them for choosing); for "20 labels" they are
# the frames trained on (a choice biased toward 1, shown as such). No training. Resumable (each step skipped when
# its output exists). Table: python3 scripts/rotation_table.py alpha_choice
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
CAMVID="$(realpath "$CAMVID")"
for tag in ${TAGS:-mean_flip mean_flip_seed1}; do
  for held in ${HELD_OUT:-0001TP 0006R0 0016E5}; do
    twenty="runs/rotation/$held/labelled_folder"  # the 20 frames as a folder dataset (CamVid's ids: road 3, 11 ignored)
    if [ ! -d "$twenty" ]; then
      mkdir -p "$twenty"; ln -s "$(realpath "runs/rotation/$held/labelled/train")" "$twenty/images"
      ln -s "$(realpath "runs/rotation/$held/labelled/trainannot")" "$twenty/masks"
    fi
    for setting in no_labels labels20; do
      run="runs/rotation_$tag/$held/$setting/run"
      for alpha in ${ALPHAS:-0.25 0.5 0.75 1}; do
        moved="runs/rotation_$tag/$held/$setting/toward_origin_a$alpha"
        if [ "$alpha" = 1 ]; then moved="$run"; fi
        [ -f "$moved/best.keras" ] || python -m training.interpolate "$run" --alpha "$alpha" --toward origin --out "$moved"
        [ -f "$moved/labelled20/eval_folder_all.json" ] || python -m training.evaluate "$moved" --dataset folder \
            --road-id 3 --ignore-id 11 --data "$twenty" --split all --out "$moved/labelled20"
        [ -f "$moved/$held/eval_camvid_all.json" ] || python -m training.evaluate "$moved" --dataset camvid \
            --data "$CAMVID" --split all --only "${held}_*" --out "$moved/$held"
      done
    done
  done
done
