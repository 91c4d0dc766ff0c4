#!/usr/bin/env bash
# README command 2: set up (runtime + training + test tools) and run the linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh test
ruff check ros_road_seg training test launch setup.py
ruff format --check ros_road_seg training test launch setup.py
exec python -m pytest -q "$@"
