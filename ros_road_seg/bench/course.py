"""The seed course's serving code as a callable: Keras ``predict``, PIL resizes, threshold, ``Image.blend``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def course_pipeline(keras_path: Path, threshold: float = 0.5):
    """The course's serving code, as a callable rgb -> overlay (None, reason when TensorFlow is unavailable)."""
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as training/__init__.py (never imported from here)
        import keras
        from PIL import Image as PILImage
    except ImportError as error:
        return None, f"skipped: TensorFlow/Keras not installed ({error})"
    if keras_path is None or not Path(keras_path).is_file():
        return None, "skipped: no --keras model given"
    model = keras.saving.load_model(keras_path, compile=False)
    height, width = int(model.input.shape[1]), int(model.input.shape[2])

    def run(rgb: np.ndarray):
        image = PILImage.fromarray(rgb)
        small = np.asarray(image.resize((width, height)), dtype=np.float32)[None] / 255.0
        prediction = model.predict(small, verbose=0)
        if isinstance(prediction, list):
            prediction = prediction[-1]
        mask = PILImage.fromarray(((prediction[0, :, :, 0] > threshold) * 255).astype(np.uint8))
        mask = mask.resize(image.size).convert("RGB")
        return PILImage.blend(image, mask, 0.5)

    return run, "Keras predict + PIL resize + Image.blend"
