#!/usr/bin/env bash
# Reproduces the shipped models (models/README.md), their evaluation, the comparison report and the KITTI
# leave-one-out figures. CPU only: about 4 hours on 2 cores. CAMVID and KITTI point at the data.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
CAMVID="${CAMVID:-../shared/data/camvid}"
KITTI="${KITTI:-sample_data/kitti}"
common=(--dataset camvid --data "$CAMVID" --batch-size 8 --loss bce_dice --lr 1e-3 --seed 0 --quiet)

python -m training.train "${common[@]}" --model unet --base-filters 16 --epochs 30 --augment full --out runs/unet16_camvid
python -m training.train "${common[@]}" --model unet --base-filters 16 --epochs 30 --augment flip --input-size 256 320 \
    --out runs/unet16_256x320_camvid
python -m training.train "${common[@]}" --model unetpp --base-filters 8 --deep-supervision --epochs 24 --augment full \
    --out runs/unetpp8ds_camvid
# Second stage, the same for all three: flips only, Adam 3e-4 cosine, from the first stage's best epoch.
stage2=(--dataset camvid --data "$CAMVID" --batch-size 8 --loss bce_dice --lr 3e-4 --augment flip --seed 0 --quiet)
python -m training.train "${stage2[@]}" --epochs 16 --init-from runs/unet16_camvid --out runs/unet16_camvid_ft
python -m training.train "${stage2[@]}" --epochs 12 --init-from runs/unet16_256x320_camvid --out runs/unet16_256x320_camvid_ft
python -m training.train "${stage2[@]}" --epochs 12 --init-from runs/unetpp8ds_camvid --out runs/unetpp8ds_camvid_ft

for run in unet16_camvid_ft unet16_256x320_camvid_ft unetpp8ds_camvid_ft; do
  python -m training.evaluate "runs/$run" --dataset camvid --data "$CAMVID" --split val --out "runs/$run"
  python -m training.evaluate "runs/$run" --dataset kitti --data "$KITTI" --split all --out "runs/$run"
  python -m training.export "runs/$run" --out "runs/$run/model.onnx"
done
for level in 2 3; do
  python -m training.export runs/unetpp8ds_camvid_ft --prune "$level" --out "runs/unetpp8ds_camvid_ft/model_l$level.onnx"
done
for run in unet16_camvid_ft unet16_256x320_camvid_ft; do
  python -m training.quantize "runs/$run/model.onnx" --calib "$CAMVID/train" --out "runs/$run/model_int8.onnx"
done
python -m training.quantize runs/unet16_camvid_ft/model.onnx --precision fp16 --out runs/unet16_camvid_ft/model_fp16.onnx

cp runs/unet16_camvid_ft/model_int8.onnx models/unet16_camvid_int8.onnx
cp runs/unet16_camvid_ft/model.onnx models/unet16_camvid.onnx
cp runs/unet16_camvid_ft/model_fp16.onnx models/unet16_camvid_fp16.onnx
cp runs/unet16_256x320_camvid_ft/model_int8.onnx models/unet16_256x320_camvid_int8.onnx
cp runs/unetpp8ds_camvid_ft/model.onnx models/unetpp8ds_camvid.onnx

python -m training.compare runs/unet16_camvid_ft runs/unetpp8ds_camvid_ft --dataset camvid --data "$CAMVID" --out docs
python -m training.compare runs/unet16_camvid_ft runs/unetpp8ds_camvid_ft runs/unet16_256x320_camvid_ft --dataset kitti \
    --data "$KITTI" --split all --grid 5 --out docs
python -m training.crossval --init-from runs/unet16_camvid_ft --data "$KITTI" --out runs/kitti_loo_unet16_ft
python -c "import keras; keras.saving.load_model('runs/unet16_camvid_ft/best.keras', compile=False).save('models/unet16_camvid.keras')"
