#!/usr/bin/env bash
# Reproduces the shipped models, their evaluation, the comparison report and the KITTI leave-one-out figures.
# CPU only, about 2.5 hours on 2 cores. CAMVID and KITTI point at the data (defaults: the workspace's shared copy).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
CAMVID="${CAMVID:-../shared/data/camvid}"
KITTI="${KITTI:-sample_data/kitti}"

python -m training.train --dataset camvid --data "$CAMVID" --model unet --base-filters 16 --epochs 30 \
    --batch-size 8 --augment full --loss bce_dice --lr 1e-3 --seed 0 --out runs/unet16_camvid --quiet
python -m training.train --dataset camvid --data "$CAMVID" --model unetpp --base-filters 16 --deep-supervision \
    --epochs 24 --batch-size 8 --augment full --loss bce_dice --lr 1e-3 --seed 0 --out runs/unetpp16ds_camvid --quiet

for run in unet16_camvid unetpp16ds_camvid; do
  python -m training.evaluate "runs/$run" --dataset camvid --data "$CAMVID" --split val --out "runs/$run"
  python -m training.evaluate "runs/$run" --dataset kitti --data "$KITTI" --split all --out "runs/$run"
done
python -m training.export runs/unet16_camvid --out models/unet16_camvid.onnx
python -m training.export runs/unetpp16ds_camvid --out models/unetpp16ds_camvid.onnx
for level in 2 3; do
  python -m training.export runs/unetpp16ds_camvid --prune "$level" --out "models/unetpp16ds_camvid_l$level.onnx"
done
python -m training.quantize models/unet16_camvid.onnx --calib "$CAMVID/train" --out models/unet16_camvid_int8.onnx
python -m training.quantize models/unet16_camvid.onnx --precision fp16 --out models/unet16_camvid_fp16.onnx
python -m training.compare runs/unet16_camvid runs/unetpp16ds_camvid --dataset camvid --data "$CAMVID" --out docs
python -m training.compare runs/unet16_camvid runs/unetpp16ds_camvid --dataset kitti --data "$KITTI" --split all --out docs
python -m training.crossval --init-from runs/unet16_camvid --data "$KITTI" --out runs/kitti_loo_unet16
