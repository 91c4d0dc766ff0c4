#!/usr/bin/env bash
# The zero-shot Intel teachers at two sizes (192x608, 384x1216) and their cached soft labels (the more certain
# teacher per frame) on the unlabelled KITTI road frames and on CamVid's train frames used unlabelled: the keep
# recipes' soft pools. Resumable: what exists is skipped. CPU: about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
mkdir -p runs/keep
# the zero-shot teachers at two sizes, and their soft labels (the more certain teacher per frame)
[ -f runs/keep/intel_road_192x608.onnx ] || python -m training.export --intel-ir "$INTEL_IR" --input-size 192 608 --out runs/keep/intel_road_192x608.onnx
[ -f runs/keep/intel_road_384x1216.onnx ] || python -m training.export --intel-ir "$INTEL_IR" --input-size 384 1216 --out runs/keep/intel_road_384x1216.onnx
teachers=(runs/keep/intel_road_192x608.onnx runs/keep/intel_road_384x1216.onnx)
[ -f runs/keep/soft_kitti_unlabelled/teacher.json ] || python -m training.distill --teacher "${teachers[@]}" --combine confident --frames "$UNLABELLED" --out runs/keep/soft_kitti_unlabelled
[ -f runs/keep/soft_camvid_train/teacher.json ] || python -m training.distill --teacher "${teachers[@]}" --combine confident --frames "$CAMVID/train" --out runs/keep/soft_camvid_train
