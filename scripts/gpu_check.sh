#!/usr/bin/env bash
# The GPU check in one command: on a machine with an NVIDIA GPU, a separate environment (.venv-gpu) with
# onnxruntime-gpu, then `python -m ros_road_seg.bench.gpu_check` for the default model and its FP16 sibling on CUDA
# and TensorRT (output format: docs/performance.md, "GPU check"). Without a GPU: one line, exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi lists none); nothing to check"
  exit 0
fi
PYTHON="${PYTHON:-python3}"
[ -x .venv-gpu/bin/python ] || "$PYTHON" -m venv .venv-gpu
if [ ! -f .venv-gpu/.installed ]; then
  echo "installing onnxruntime-gpu (CUDA 13 + cuDNN 9 from pip) into .venv-gpu (first run only) ..."
  grep -v '^onnxruntime' requirements.txt > .venv-gpu/requirements-gpu.txt
  .venv-gpu/bin/python -m pip install --quiet --upgrade pip
  .venv-gpu/bin/python -m pip install --quiet -r .venv-gpu/requirements-gpu.txt "onnxruntime-gpu[cuda,cudnn]==1.31.1"
  .venv-gpu/bin/python -m pip install --quiet tensorrt-cu13 || echo "note: TensorRT not installed; CUDA only"
  touch .venv-gpu/.installed
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
PYTHONPATH="$PWD" exec .venv-gpu/bin/python -m ros_road_seg.bench.gpu_check "$@"
