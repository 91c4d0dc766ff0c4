#!/usr/bin/env bash
# Issue 24, parts 3-5, on the default's recipe (keep_strong, trained at the served 160x512): U-Net vs UNet++ (pruned
# heads included) at the served size, and the 224x224 option on the same pretrained encoder (frames squashed, and
# tiles of the aspect-kept frame) -- each with KITTI block
# 4-fold and the CamVid sequences no run of it saw -- then the UNet++ and 224x224 models trained on every labelled
# KITTI frame but the demo frames (FP32, FP16, INT8). Resumable. Tables: python3 scripts/keep_table.py.
set -euo pipefail
cd "$(dirname "$0")/.."
SETTINGS="strong_unetpp strong_224 strong_224tiles strong" bash scripts/keep_tradeoff.sh
bash scripts/keep_final.sh strong_unetpp intel_unetpp_keep_strong_160x512
bash scripts/keep_final.sh strong_224 intel_unet_keep_strong_224x224
bash scripts/keep_final.sh strong_224tiles intel_unet_keep_strong_224x224_tiles
