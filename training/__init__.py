"""Offline training, evaluation, export and quantization (TensorFlow/Keras). Depends on ``ros_road_seg``, never back.

TensorFlow's C++ logging is quietened here, once, before any submodule imports it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
