"""``training.quantize``: INT8 and FP16 files load through the core and agree with the FP32 model."""

from __future__ import annotations

import numpy as np
import pytest

from ros_road_seg.core.segmenter import Segmenter
from training.onnx_export import export


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_quantized_models_load_and_agree(tiny_run, tmp_path, precision):
    from training.quantization import convert_fp16, quantize_int8

    data, run = tiny_run
    float_path = tmp_path / "float.onnx"
    export(run, float_path)
    out = tmp_path / f"{precision}.onnx"
    if precision == "int8":
        metadata = quantize_int8(float_path, data / "training" / "image_2", out, count=4)
    else:
        metadata = convert_fp16(float_path, out)
    assert metadata["road_seg.precision"].startswith(precision)
    reduced = Segmenter(out, providers="cpu")
    assert reduced.info.metadata["road_seg.dataset"] == "kitti"
    reference = Segmenter(float_path, providers="cpu")
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    difference = np.abs(reduced.probability(frame) - reference.probability(frame)).max()
    assert difference < 0.1, f"{precision} model drifts {difference:.3f} from float32"
