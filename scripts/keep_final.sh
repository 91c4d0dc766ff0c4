#!/usr/bin/env bash
# The shipped candidate from a keep-term recipe (default: keep_none): trained on every labelled KITTI frame but the
# demo frames, at the served 160x512; FP32, FP16, INT8 (calibrated on the unlabelled KITTI road frames); scored on the
# demo frames it never saw. Usage: bash scripts/keep_final.sh [SETTING [NAME]]: SETTING names
# training/recipes/keep_SETTING.yaml (none, mild, strong, strong_unetpp, strong_224); NAME the shipped files' stem.
# ALPHA=a (WiSE-FT recipes): the trained weights moved toward the network they started from (training.interpolate)
# before export.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
setting="${1:-none}"
source scripts/data_paths.sh
run="runs/keep/final_$setting"
[ -f "$run/best.keras" ] || python -m training.train --recipe "training/recipes/keep_$setting.yaml" --data "$KITTI" \
    --val 0 --exclude '00000[0-4]_10' --out "$run"
if [ -n "${ALPHA:-}" ]; then
  [ -f "${run}_a$ALPHA/best.keras" ] || python -m training.interpolate "$run" --alpha "$ALPHA" --out "${run}_a$ALPHA"
  run="${run}_a$ALPHA"
fi
name="${2:-intel_unet_keep_${setting}_160x512}"
[ -f "$run/$name.onnx" ] || python -m training.export "$run" --out "$run/$name.onnx" --save-keras "$run/$name.keras"
[ -f "$run/${name}_fp16.onnx" ] || python -m training.quantize "$run/$name.onnx" --precision fp16 --out "$run/${name}_fp16.onnx"
[ -f "$run/${name}_int8.onnx" ] || python -m training.quantize "$run/$name.onnx" --calib "$UNLABELLED" \
    --out "$run/${name}_int8.onnx" --fp16-sibling "${name}_fp16.onnx"
for model in "$name" "${name}_int8"; do
  [ -f "$run/eval_$model/eval_kitti_all.json" ] || python -m training.evaluate "$run/$model.onnx" --dataset kitti \
      --data sample_data/kitti --split all --out "$run/eval_$model"
done
