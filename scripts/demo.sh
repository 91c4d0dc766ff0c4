#!/usr/bin/env bash
# README command 1: set up (runtime only, no TensorFlow) and run the demo on the shipped model and KITTI frames.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh runtime
exec python -m ros_road_seg.tools.demo "$@"
