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


def test_fp16_conversion_counts_clamped_weights_instead_of_a_warning_each(tmp_path, capsys):
    """Weights below half precision's range are clamped by the converter with a Python warning per tensor (about 100
    for the default's export): said once, with the count, and no warning wall."""
    import warnings

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from training.quantization import convert_fp16

    tiny = [numpy_helper.from_array(np.array([v, 2 * v, 0.5], np.float32), n) for v, n in ((1e-20, "a"), (3e-9, "b"))]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Mul", ["ax", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        tiny,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert_fp16(tmp_path / "m.onnx", tmp_path / "m16.onnx")
    assert not [w for w in caught if "truncated" in str(w.message)]
    assert "fp16: 2 weight tensors hold values outside" in capsys.readouterr().out
