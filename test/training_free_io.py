"""Image reading for tests that must not import TensorFlow or the training package."""

from pathlib import Path

import cv2
import numpy as np


def read_rgb_file(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
