"""The encoder registry: every encoder gives the one decoder of :mod:`training.models` its stages, fine to coarse.

An encoder is a function ``(inputs, weights) -> (stages, prior)``: ``stages`` the feature maps at 1/1 or 1/2 of the
input down to its coarsest (the deepest last), ``prior`` the pretrained network's own road logit at the input size
(the Intel road network has one; an ImageNet classifier does not, ``None``). The scratch encoder (the course's
U-Net and UNet++ backbone column) is built from a width and a depth instead of weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keras import layers

from training.pretrained import intel_road

Stages = tuple[list, object]


def scratch_encoder(
    inputs, base_filters: int, depth: int, batch_norm: bool, dropout: float, style: str = "unet"
) -> Stages:
    """``depth + 1`` conv blocks, each after a 2x max pool but the first; widths ``base_filters * 2**level``.

    ``style`` keeps each architecture's layer names (``encoder_stage0`` ... ``bottleneck`` for U-Net, the paper's
    ``x00`` ... ``x40`` for UNet++) and the course's dropout (before and after the U-Net bottleneck; UNet++: after
    the deepest node only).
    """
    from training.models import conv_block

    if style == "unet":

        def stage(level):
            return "bottleneck" if level == depth else f"encoder_stage{level}"

        def pool(level):
            return f"encoder_stage{level - 1}_pool"

        dropout_levels = (depth - 1, depth)
    else:

        def stage(level):
            return f"x{level}0"

        def pool(level):
            return f"x{level}0_pool"

        dropout_levels = (depth,)
    stages, x = [], inputs
    for level in range(depth + 1):
        if level:
            x = layers.MaxPooling2D(2, name=pool(level))(x)
        x = conv_block(x, base_filters * 2**level, stage(level), batch_norm)
        if dropout and level in dropout_levels:
            x = layers.Dropout(dropout, name=f"{stage(level)}_dropout")(x)
        stages.append(x)
    return stages, None


def intel_stages(inputs, weights: str | Path) -> Stages:
    """Intel road-segmentation-adas-0001: stages at 1/2, 1/4, 1/8 (after its context module) and its road logit."""
    from training.pretrained.intel_road import intel_encoder

    return intel_encoder(inputs, weights)


def efficientnet_stages(inputs, weights: str | Path) -> Stages:
    """EfficientNet-Lite0 (ImageNet): stages at 1/2 ... 1/32; no road prior."""
    from training.pretrained.efficientnet_lite import efficientnet_lite0

    stages, _ = efficientnet_lite0(inputs, weights)
    return stages, None


@dataclass(frozen=True)
class PretrainedEncoder:
    """A registered pretrained encoder: how to build it, where its weights are, the decoder widths per stage but
    the deepest, the stride its input must be a multiple of, and the prefix of its layer names (what L2-SP pulls,
    ``--encoder-from`` copies and ``--freeze-stages`` freezes)."""

    build: Callable[..., Stages]
    default_weights: Path
    decoder_filters: tuple[int, ...]
    stride: int
    prefix: str
    stage_layers: tuple[str, ...]  # the layer that ends each stage (``--freeze-stages``)


PRETRAINED_ENCODERS: dict[str, PretrainedEncoder] = {
    "intel": PretrainedEncoder(
        intel_stages,
        intel_road.DEFAULT_IR,
        decoder_filters=(16, 24),  # at 1/2, 1/4; the 1/8 stage is the deepest
        stride=intel_road.STRIDE,
        prefix=intel_road.PREFIX,
        stage_layers=tuple(intel_road.PREFIX + name for name in intel_road.ENCODER_STAGES),
    ),
    "effnet": PretrainedEncoder(
        efficientnet_stages,
        intel_road.DEFAULT_IR.parent.parent / "efficientnet_lite0_imagenet/efficientnet_lite0_imagenet.npz",
        decoder_filters=(16, 24, 32, 48),  # at 1/2 ... 1/16; the 1/32 stage is the deepest
        stride=32,
        prefix="effnet_",
        stage_layers=("effnet_block0_project_bn", "effnet_block2_add", "effnet_block4_add", "effnet_block10_add"),
    ),
}


def encoder_of(architecture: str) -> tuple[str, str]:
    """``intel_unetpp`` -> (``intel``, ``unetpp``); ``unet`` -> (``scratch``, ``unet``)."""
    encoder, _, decoder = architecture.rpartition("_")
    return (encoder or "scratch"), decoder


def encoder_layer_stages(model, flag: str, stages: int) -> tuple[PretrainedEncoder, dict[str, int]]:
    """The stage (1, 2, ...) of every layer of ``model``'s pretrained encoder up to the end of stage ``stages``, in
    graph order (what ``--freeze-stages`` freezes and ``--stage-lr-scales`` scales); ``flag`` names the option in
    the error when the model has no such encoder or fewer stages."""
    encoder = encoder_for_model(model)
    if encoder is None:
        raise ValueError(f"{flag} needs a pretrained encoder ('{model.name}' has none)")
    if stages > len(encoder.stage_layers):
        raise ValueError(f"{flag}: {stages} given, the encoder has {len(encoder.stage_layers)} stages")
    names = [layer.name for layer in model.layers]
    ends = [names.index(name) for name in encoder.stage_layers[:stages]]
    result, stage = {}, 0
    for index, name in enumerate(names[: ends[-1] + 1] if ends else []):
        while index > ends[stage]:
            stage += 1
        if name.startswith(encoder.prefix):
            result[name] = stage + 1
    return encoder, result


def encoder_for_model(model) -> PretrainedEncoder | None:
    """The registered pretrained encoder whose layers ``model`` holds (by prefix), or None."""
    names = [layer.name for layer in model.layers]
    for encoder in PRETRAINED_ENCODERS.values():
        if any(name.startswith(encoder.prefix) for name in names):
            return encoder
    return None
