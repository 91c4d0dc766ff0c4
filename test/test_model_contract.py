"""What a model must promise before the node serves it: a threshold that is a probability, outputs that are
probabilities. A model breaking either is refused at load with one line, never served as 0 % road while
/diagnostics says OK."""

from __future__ import annotations

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
