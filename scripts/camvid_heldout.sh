#!/usr/bin/env bash
# CamVid must not pay for KITTI: the whole default recipe (teacher fine-tune -> soft labels -> student) trained
# without one CamVid sequence, scored on that sequence, for 0001TP, 0006R0 and 0016E5. Resumable: finished steps
# are skipped. CPU: about 15 minutes per sequence on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
KITTI="${KITTI:-../shared/data/kitti_semantics}"; CAMVID="${CAMVID:-../shared/data/camvid}"
UNL="${UNLABELLED:-../shared/data/kitti_road_unlabelled/testing/image_2}"
DEMO='00000[0-4]_10'
T=(--dataset kitti --data "$KITTI" --model intel_road --input-size 192 608 --augment strong --repeat 4
  --mix "camvid:$CAMVID:0.25" --epochs 20 --lr 3e-4 --batch-size 8 --quiet --val 0 --exclude "$DEMO")
S=(--dataset kitti --data "$KITTI" --model intel_unet --input-size 192 608 --augment strong --repeat 2
  --mix "camvid:$CAMVID:0.2" --epochs 25 --lr 1e-3 --batch-size 8 --quiet --val 0 --exclude "$DEMO")
for seq in ${SEQUENCES:-0001TP 0006R0 0016E5}; do
  t=runs/seq_${seq}_teacher; s=runs/seq_${seq}_student
  [ -f $t/model.onnx ] || { python -m training.train "${T[@]}" --exclude "${seq}_*" --out $t &&
    python -m training.export $t --out $t/model.onnx; }
  [ -f runs/soft_seq_$seq/teacher.json ] || python -m training.distill --teacher $t/model.onnx --frames "$UNL" \
      --out runs/soft_seq_$seq
  [ -f $s/model.onnx ] || { python -m training.train "${S[@]}" --exclude "${seq}_*" --encoder-from $t/best.keras \
      --mix "soft:runs/soft_seq_$seq:0.35" --out $s && python -m training.export $s --out $s/model.onnx; }
  for run in $t $s; do
    python -m training.evaluate $run/model.onnx --dataset camvid --data "$CAMVID" --split all --only "${seq}_*" \
        --out $run | grep "Road IoU"
  done
done
