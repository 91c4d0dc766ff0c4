"""Tiny ONNX models with a known output, built with onnx.helper (no TensorFlow): road probability = red channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def write_red_channel_model(
    path: Path, height: int = 32, width: int = 48, threshold: float | None = 0.5, channels: int = 3, rank: int = 4
) -> Path:
    """A model whose road probability is the input's red channel, so every output is computable by hand."""
    shape = ["batch", height, width, channels][:rank]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    output = helper.make_tensor_value_info("road_probability", TensorProto.FLOAT, ["batch", height, width, 1])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [rank - 1])
    node = helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["road_probability"])
    graph = helper.make_graph([node], "red_channel", [image], [output], initializer=[starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    metadata = {
        "road_seg.input_height": str(height),
        "road_seg.input_width": str(width),
        "road_seg.architecture": "red_channel_test",
    }
    if threshold is not None:
        metadata["road_seg.threshold"] = str(threshold)
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def red_channel_expected(rgb: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """The mask the red-channel model must give, computed with the core's own resize helpers."""
    from ros_road_seg.segmenter import preprocess, resize_probability, threshold_mask

    probability = preprocess(rgb, (height, width))[0, :, :, 0]
    full = resize_probability(np.ascontiguousarray(probability), rgb.shape[:2])
    return threshold_mask(full, threshold)
