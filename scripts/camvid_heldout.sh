#!/usr/bin/env bash
# CamVid must not pay for KITTI: the default recipe's student trained without one CamVid sequence, scored on that
# sequence, for 0001TP, 0006R0 and 0016E5. Its teacher is the Intel network fine-tuned on KITTI alone (no CamVid at
# all, so it cannot have seen the held-out sequence; one teacher serves all three runs). Resumable: finished steps
# are skipped. CPU: about 6 minutes for the teacher and 8 per sequence on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
KITTI="${KITTI:-../shared/data/kitti_semantics}"; CAMVID="${CAMVID:-../shared/data/camvid}"
UNL="${UNLABELLED:-../shared/data/kitti_road_unlabelled/testing/image_2}"
DEMO='00000[0-4]_10'
T=(--dataset kitti --data "$KITTI" --model intel_road --input-size 192 608 --augment strong --repeat 4
  --epochs 20 --lr 3e-4 --batch-size 8 --quiet --val 0 --exclude "$DEMO")
S=(--dataset kitti --data "$KITTI" --model intel_unet --input-size 192 608 --augment strong --repeat 2
  --mix "camvid:$CAMVID:0.2" --epochs 10 --lr 1e-4 --batch-size 8 --quiet --val 0 --exclude "$DEMO")
t=runs/seq_teacher_kitti_only
[ -f $t/model.onnx ] || { python -m training.train "${T[@]}" --out $t && python -m training.export $t --out $t/model.onnx; }
[ -f runs/soft_seq_teacher/teacher.json ] || python -m training.distill --teacher $t/model.onnx --frames "$UNL" \
    --out runs/soft_seq_teacher
for seq in ${SEQUENCES:-0001TP 0006R0 0016E5}; do
  s=runs/seq_${seq}_student
  [ -f $s/model.onnx ] || { python -m training.train "${S[@]}" --exclude "${seq}_*" --encoder-from $t/best.keras \
      --mix "soft:runs/soft_seq_teacher:0.35" --out $s && python -m training.export $s --out $s/model.onnx; }
  for run in $t $s; do
    echo "$run on $seq: $(python -m training.evaluate $run/model.onnx --dataset camvid --data "$CAMVID" --split all \
        --only "${seq}_*" --out $run/eval_$seq | grep 'Road IoU')"
  done
done
