"""The keep terms of fine-tuning (training.fitting: L2-SP pull, frozen encoder stages), the teacher chosen per frame
(training.distill --combine confident), and the recipe files (training/recipes/*.yaml, --recipe)."""

from __future__ import annotations

import argparse
import types
from pathlib import Path

import keras
import numpy as np
import pytest

from ros_road_seg.core.errors import UsageError
from training.fitting import PullToStart
from training.recipe import Recipe, add_recipe_arguments, parse_with_recipe
from training.soft_labels import mean_entropy, soft_probability

ROOT = Path(__file__).resolve().parent.parent
INTEL_IR = ROOT.parent / "shared" / "weights" / "road-segmentation-adas-0001" / "road-segmentation-adas-0001.xml"


def test_the_pull_moves_each_weight_its_share_of_the_way_back():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="intel_dense")(inputs))
    layer = model.get_layer("intel_dense")
    start = [w.numpy().copy() for w in layer.trainable_weights]
    moved = [w + 1.0 for w in start]
    layer.set_weights(moved)
    pull = PullToStart({"intel_dense": start}, 0.25)
    pull.set_model(model)
    pull.on_train_batch_end(0)
    for now, before, after in zip(layer.get_weights(), start, moved, strict=True):
        np.testing.assert_allclose(now, after - 0.25 * (after - before), rtol=1e-6)  # 3/4 of the way left


@pytest.mark.skipif(not INTEL_IR.is_file(), reason=f"Intel road IR not at {INTEL_IR} (../shared absent)")
def test_freezing_the_first_stage_freezes_only_encoder_layers_up_to_it():
    from training.fitting import freeze_encoder_stages
    from training.models import build_model
    from training.pretrained.intel_road import ENCODER_STAGES, PREFIX

    model = build_model("intel_unet", (64, 96, 3), pretrained=INTEL_IR)
    trainable_before = len(model.trainable_weights)
    frozen = freeze_encoder_stages(model, 1)
    names = [layer.name for layer in model.layers]
    boundary = names.index(PREFIX + ENCODER_STAGES[0])
    assert frozen > 0 and len(model.trainable_weights) < trainable_before
    for index, layer in enumerate(model.layers):
        if layer.weights:
            assert layer.trainable == (index > boundary or not layer.name.startswith(PREFIX)), layer.name


def test_the_most_certain_teacher_speaks_for_the_frame():
    unsure = types.SimpleNamespace(probability=lambda rgb: np.full((2, 2), 0.5, np.float32))
    crisp = types.SimpleNamespace(probability=lambda rgb: np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    rgb = np.zeros((2, 2, 3), np.uint8)
    chosen, speaker = soft_probability([unsure, crisp], rgb, "confident")
    assert speaker == 1 and chosen.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    averaged, speaker = soft_probability([unsure, crisp], rgb, "mean")
    assert speaker == -1 and averaged.tolist() == [[0.75, 0.25], [0.25, 0.75]]
    assert mean_entropy(np.full((2, 2), 0.5)) == pytest.approx(1.0) and mean_entropy(np.eye(2)) < 1e-3


def test_a_flipped_teacher_answers_for_the_frame_and_its_mirror():
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[:, :, 0] = [[0, 51, 102, 255], [255, 0, 0, 51]]  # road where red: an answer that follows the content
    by_content = types.SimpleNamespace(probability=lambda image: image[:, :, 0].astype(np.float32) / 255.0)
    left_half = types.SimpleNamespace(probability=lambda image: np.array([[1, 1, 0, 0]] * 2, np.float32))
    same, _ = soft_probability([by_content], rgb, "mean", flip=True)
    assert np.allclose(same, [[0.0, 0.2, 0.4, 1.0], [1.0, 0.0, 0.0, 0.2]])  # the mirror agrees: nothing changes
    halved, _ = soft_probability([left_half], rgb, "mean", flip=True)
    assert np.allclose(halved, 0.5)  # a teacher that only says "left" is unsure once it sees the mirror
    both, _ = soft_probability([by_content, left_half], rgb, "mean", flip=True)
    assert np.allclose(both, (same + 0.5) / 2)


@pytest.mark.parametrize("recipe", sorted((ROOT / "training" / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_file_is_a_valid_recipe(recipe):
    parser = argparse.ArgumentParser()
    add_recipe_arguments(parser)
    built = Recipe.from_args(parse_with_recipe(parser, ["--recipe", str(recipe)]))
    assert built.dataset and built.epochs >= 1


def test_command_line_flags_override_the_recipe_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("# a comment\ndataset: kitti\ndata: D\nepochs: 7\nmix:\n  - soft:A:0.2\n  - soft:B:0.3\n")
    parser = argparse.ArgumentParser()
    add_recipe_arguments(parser)
    from_file = Recipe.from_args(parse_with_recipe(parser, ["--recipe", str(recipe)]))
    assert from_file.epochs == 7 and [m.path.name for m in from_file.mix] == ["A", "B"]
    overridden = Recipe.from_args(
        parse_with_recipe(parser, ["--recipe", str(recipe), "--epochs", "2", "--mix", "soft:C:0.1"])
    )
    assert overridden.epochs == 2 and [m.path.name for m in overridden.mix] == ["A", "B", "C"]  # lists add
    recipe.write_text("- not a mapping\n")
    with pytest.raises(UsageError, match="mapping"):
        parse_with_recipe(parser, ["--recipe", str(recipe)])


def test_the_decoder_learns_faster_by_its_scale_and_the_encoder_does_not():
    """ScaledAdam: a step of scale x lr for the layers outside the pretrained encoder (the zero-started head barely
    moved at 1e-4 in a short fine-tune); scale 0 would freeze them, 10 moves them ten times as far per step."""
    import keras

    from training.models import ScaledAdam, decoder_variable_paths

    def moved(scale: float) -> tuple[float, float]:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        encoder = keras.layers.Dense(4, name="intel_dense")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(1, name="head")(encoder))
        assert decoder_variable_paths(model) == ("head/kernel", "head/bias")
        start = [w.copy() for w in model.get_weights()]
        scales = dict.fromkeys(decoder_variable_paths(model), scale)
        model.compile(optimizer=ScaledAdam(1e-3, scales=scales), loss="mse")
        rng = np.random.default_rng(0)
        model.fit(rng.random((16, 4)), rng.random((16, 1)), epochs=2, batch_size=8, verbose=0, shuffle=False)
        steps = [float(np.abs(w - s).max()) for w, s in zip(model.get_weights(), start, strict=True)]
        return max(steps[:2]), max(steps[2:])  # (encoder, head)

    encoder_1, head_1 = moved(1.0)
    encoder_10, head_10 = moved(10.0)
    assert moved(1e-9)[1] < 1e-6  # (the CLI refuses 0; a vanishing scale all but freezes the head)
    assert head_10 > 5 * head_1 and encoder_10 < 2 * encoder_1


@pytest.mark.skipif(not INTEL_IR.is_file(), reason=f"Intel road IR not at {INTEL_IR} (../shared absent)")
def test_per_stage_learning_rates_follow_the_encoder_stages():
    """--stage-lr-scales 0.1 0.5 with --decoder-lr-scale 10: the stem (stage 1) at 0.1, the 1/4 stage's last layer
    at 0.5, the 1/8 stage and the Intel decoder at 1 (left out), every decoder variable at 10."""
    from training.encoders import PRETRAINED_ENCODERS
    from training.models import build_model, decoder_variable_paths, learning_rate_scales

    model = build_model("intel_unet", (64, 96, 3), pretrained=INTEL_IR)
    scales = learning_rate_scales(model, 10.0, (0.1, 0.5))
    stage_ends = PRETRAINED_ENCODERS["intel"].stage_layers
    names = [layer.name for layer in model.layers]
    by_layer = {}
    for layer in model.layers:
        for variable in layer.trainable_weights:
            by_layer.setdefault(layer.name, set()).add(scales.get(variable.path, 1.0))
    first_conv = next(n for n in names if n.startswith("intel_") and by_layer.get(n))
    assert by_layer[first_conv] == {0.1}
    stage2 = [n for n in names[names.index(stage_ends[0]) + 1 : names.index(stage_ends[1]) + 1] if by_layer.get(n)]
    assert stage2 and all(by_layer[n] == {0.5} for n in stage2)
    later = [n for n in names[names.index(stage_ends[1]) + 1 :] if n.startswith("intel_") and by_layer.get(n)]
    assert later and all(by_layer[n] == {1.0} for n in later)
    assert all(scales[path] == 10.0 for path in decoder_variable_paths(model))
    with pytest.raises(ValueError, match="the encoder has 3 stages"):
        learning_rate_scales(model, 1.0, (1.0, 1.0, 1.0, 1.0))
