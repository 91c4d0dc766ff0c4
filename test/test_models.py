"""Model builders: the course's parameter count, UNet++ nested convolutions, deep supervision, pruning, MACs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from training.models import (
    build_model,
    build_unet,
    build_unet_plus_plus,
    count_macs,
    decoder,
    describe_model,
    prune_unet_plus_plus,
)


def test_course_unet_parameter_count():
    assert build_unet((224, 224, 3)).count_params() == 31_032_837


def test_course_unet_has_its_two_filter_conv_and_no_batchnorm():
    model = build_unet((64, 64, 3), base_filters=4)
    assert model.get_layer("pre_head_conv").filters == 2
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


@pytest.mark.parametrize("architecture", ["unet", "unetpp"])
@pytest.mark.parametrize("width", [4, 8])
def test_tiny_models_output_a_probability_map(architecture, width):
    model = build_model(architecture, (64, 64, 3), base_filters=width)
    output = np.asarray(model(np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)))
    assert output.shape == (2, 64, 64, 1)
    assert 0.0 <= output.min() and output.max() <= 1.0


def test_unetpp_nested_nodes_convolve_their_dense_inputs():
    model = build_unet_plus_plus((64, 64, 3), base_filters=4, depth=4)
    for level in range(4):
        for column in range(1, 5 - level):
            concat = model.get_layer(f"x{level}{column}_concat")
            assert len(concat.input) == column + 1  # X(i,0..j-1) and up(X(i+1,j-1))
            conv = model.get_layer(f"x{level}{column}_conv1")
            assert conv.input.shape[-1] == concat.output.shape[-1]  # the block convolves the concatenation
            assert model.get_layer(f"x{level}{column}_conv2").filters == 4 * 2**level


def test_deep_supervision_heads_and_pruning():
    model = build_unet_plus_plus((64, 64, 3), base_filters=4, deep_supervision=True)
    assert list(model.output_names) == ["head_l1", "head_l2", "head_l3", "head_l4"]
    pruned = [prune_unet_plus_plus(model, level) for level in (1, 2, 3, 4)]
    params = [p.count_params() for p in pruned]
    assert params == sorted(params) and params[0] < params[-1]
    frame = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    full_heads = model(frame)
    np.testing.assert_allclose(np.asarray(pruned[1](frame)), np.asarray(full_heads[1]), atol=1e-6)


def test_pruning_needs_deep_supervision():
    model = build_unet_plus_plus((64, 64, 3), base_filters=4)
    with pytest.raises(ValueError, match="deep supervision"):
        prune_unet_plus_plus(model, 2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"base_filters": 0}, "base_filters"),
        ({"depth": 0}, "depth"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_shape": (64, 64, 1)}, "input_shape"),
        ({"input_shape": (60, 64, 3)}, "divisible"),
    ],
)
def test_invalid_options_name_the_option(kwargs, match):
    options = {"input_shape": (64, 64, 3), "base_filters": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_unet(**options)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="architecture 'segnet'"):
        build_model("segnet")


def test_count_macs_by_hand():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    assert count_macs(keras.Model(inputs, outputs)) == 8 * 8 * 3 * 3 * 3 * 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"architecture": "unet", "base_filters": 4, "depth": 2, "batch_norm": True, "course_head": False},
        {"architecture": "unet", "base_filters": 2, "depth": 3, "batch_norm": False, "course_head": True},
        {"architecture": "unetpp", "base_filters": 3, "depth": 2, "batch_norm": True, "deep_supervision": True},
    ],
)
def test_describe_model_reads_the_build_arguments_back(kwargs):
    model = build_model(input_shape=(32, 32, 3), **kwargs)
    described = describe_model(model)
    assert described["model"] == kwargs["architecture"]
    assert described["base_filters"] == kwargs["base_filters"] and described["depth"] == kwargs["depth"]
    assert described["no_batch_norm"] == (not kwargs["batch_norm"])
    assert described["course_head"] == kwargs.get("course_head", False)
    assert described["deep_supervision"] == kwargs.get("deep_supervision", False)


def _stage_inputs(widths_and_strides, size=64):
    """Stand-in encoder stages (any encoder's): Keras inputs at 1/stride of ``size`` with the given widths."""
    return [keras.Input((size // s, size // s, c)) for c, s in widths_and_strides]


@pytest.mark.parametrize("nested", [False, True])
def test_one_decoder_over_any_number_of_stages(nested):
    """The decoder builds the same node pattern over 3 stages (Intel-like) or 5 (EfficientNet-like): U-Net one
    up/concat/conv per level, UNet++ X(i,j) concatenating X(i,0..j-1) and up(X(i+1,j-1)), heads on X(0,j)."""
    for stages_spec in ([(32, 2), (48, 4), (48, 8)], [(16, 2), (24, 4), (40, 8), (112, 16), (320, 32)]):
        stages = _stage_inputs(stages_spec)
        deepest = len(stages) - 1
        widths = tuple(8 * (level + 1) for level in range(deepest))
        heads = decoder(stages, widths, nested, deep_supervision=nested)
        model = keras.Model(stages, [x for _, x in heads])
        if not nested:
            assert [name for name, _ in heads] == ["road_probability"]
            for level in range(deepest):
                concat = model.get_layer(f"decoder_stage{level}_concat")
                assert concat.input[0].shape[-1] == stages_spec[level][0]  # the encoder's skip at that level
                assert model.get_layer(f"decoder_stage{level}_conv2").filters == widths[level]
            assert heads[0][1].shape[1] == 64 // stages_spec[0][1]  # ends at the finest stage's size
        else:
            assert [name for name, _ in heads] == [f"head_l{j}" for j in range(1, deepest + 1)]
            for level in range(deepest):
                for column in range(1, deepest + 1 - level):
                    assert len(model.get_layer(f"x{level}{column}_concat").input) == column + 1
                    assert model.get_layer(f"x{level}{column}_conv2").filters == widths[level]


def test_the_decoder_names_missing_widths():
    with pytest.raises(ValueError, match="one per encoder stage"):
        decoder(_stage_inputs([(8, 1), (8, 2), (8, 4)]), (8,), nested=False, deep_supervision=False)


def test_deep_supervision_needs_the_nested_decoder():
    with pytest.raises(ValueError, match="nested"):
        decoder(_stage_inputs([(8, 1), (8, 2)]), (8,), nested=False, deep_supervision=True)


def test_every_registered_encoder_has_both_decoders():
    from training.encoders import PRETRAINED_ENCODERS
    from training.models import ARCHITECTURES

    for encoder in PRETRAINED_ENCODERS:
        assert {f"{encoder}_unet", f"{encoder}_unetpp"} <= set(ARCHITECTURES)
