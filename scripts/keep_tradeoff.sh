#!/usr/bin/env bash
# Issue 24's trade-off: three keep-term settings (training/recipes/keep_{none,mild,strong}.yaml), each with KITTI
# block 4-fold at the served size (160x512) and a CamVid check on two sequences no run of it saw (0001TP, 0006R0: left
# out of the keep pool, scored on all their frames), beside the zero-shot Intel network. Resumable: a finished fold,
# run or score is skipped. CPU: about 12 minutes per setting on 2 cores. The table: python3 scripts/keep_table.py
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
bash scripts/keep_teachers.sh                                        # zero-shot teachers and their soft labels
score_camvid() {  # model, out folder
  for seq in 0001TP 0006R0; do
    [ -f "$2/$seq/eval_camvid_all.json" ] || python -m training.evaluate "$1" --dataset camvid --data "$CAMVID" --split all --only "${seq}_*" --out "$2/$seq"
  done
}
score_camvid runs/keep/intel_road_192x608.onnx runs/keep/camvid_zero_shot
for setting in ${SETTINGS:-none mild strong}; do
  python -m training.crossval --recipe "training/recipes/keep_$setting.yaml" --data "$KITTI" --folds 4 --out "runs/keep/cv_$setting"
  [ -f "runs/keep/camvid_$setting/best.keras" ] || python -m training.train --recipe "training/recipes/keep_$setting.yaml" \
      --data "$KITTI" --val 0 --exclude '0001TP_*' --exclude '0006R0_*' --out "runs/keep/camvid_$setting"
  score_camvid "runs/keep/camvid_$setting" "runs/keep/camvid_$setting"
done
for teacher in intel_road_192x608 intel_road_384x1216; do  # teacher sizes (scripts/teacher_table.py)
  [ -f "runs/keep/teachers/$teacher/eval_camvid_train.json" ] || python -m training.evaluate "runs/keep/$teacher.onnx" \
      --dataset camvid --data "$CAMVID" --split train --out "runs/keep/teachers/$teacher"
done
