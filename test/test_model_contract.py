"""What a model must promise before the node serves it: a threshold that is a probability, outputs that are
probabilities. A model breaking either is refused at load with one line, never served as 0 % road while
/diagnostics says OK."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_fixtures import write_red_channel_model

from ros_road_seg.core.errors import ModelLoadError
from ros_road_seg.core.segmenter import Segmenter


@pytest.mark.parametrize("threshold", ["nan", "2", "-0.5", "inf", "road"])
def test_a_model_whose_threshold_is_not_a_probability_is_refused(tmp_path, threshold):
    """Before: export --threshold nan wrote it, and the node published 0 % road on every frame."""
    path = write_red_channel_model(tmp_path / "m.onnx", threshold=None)
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "road_seg.threshold", threshold
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match=f"threshold '{threshold}'"):
        Segmenter(path, providers="cpu")


def test_a_valid_threshold_in_the_model_is_used(tmp_path):
    path = write_red_channel_model(tmp_path / "m.onnx", threshold=0.3)
    assert Segmenter(path, providers="cpu").threshold == pytest.approx(0.3)


def test_a_model_that_outputs_logits_is_named_at_warm_up(tmp_path):
    """Before: accepted, and road_probability wrapped (7.69 -> byte 168)."""
    path = write_red_channel_model(tmp_path / "logits.onnx", output_scale=16.0)
    with pytest.raises(ModelLoadError, match="road_probability.*not road probabilities"):
        Segmenter(path, providers="cpu")


ROOT = Path(__file__).resolve().parent.parent


def test_gpu_providers_pick_the_fp16_sibling_and_cache_tensorrt_engines(tmp_path, red_model):
    """With CUDA/TensorRT an INT8 model's FP16 sibling (named in its metadata) runs; TensorRT caches its engine."""
    import shutil

    import onnx

    from ros_road_seg.core.model import FP16_SIBLING_KEY, model_for_providers, provider_options

    int8, fp16 = tmp_path / "m_int8.onnx", tmp_path / "m_fp16.onnx"
    model = onnx.load(str(red_model))
    entry = model.metadata_props.add()
    entry.key, entry.value = FP16_SIBLING_KEY, fp16.name
    onnx.save(model, str(int8))
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert model_for_providers(int8, cuda) == int8  # the sibling is not there: the file as given
    shutil.copy(red_model, fp16)
    assert model_for_providers(int8, cuda) == fp16
    assert model_for_providers(int8, ["TensorrtExecutionProvider", *cuda]) == fp16
    assert model_for_providers(int8, ["CPUExecutionProvider"]) == int8  # CPU runs INT8 best
    options = provider_options(["TensorrtExecutionProvider", *cuda], tmp_path / "trt")
    name, trt = options[0]
    print(f"\n[gpu] TensorRT options: {trt}")
    assert name == "TensorrtExecutionProvider" and trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt") and trt["trt_fp16_enable"] == "True"
    assert options[1:] == cuda
    shipped = ROOT / "models" / "road_seg_default.onnx"
    chosen = model_for_providers(shipped.resolve(), cuda)
    print(f"[gpu] default model on CUDA: {chosen.name} (CPU: {shipped.resolve().name})")
    assert chosen != shipped.resolve() and "fp16" in chosen.name
