"""EfficientNet-Lite0 (ImageNet, Apache-2.0) from its ``.npz`` (PyTorch names and layouts) into Keras.

The architecture is read from the paper (Tan & Le, ICML 2019) and the Lite variant's description (no squeeze-and-
excitation, ReLU6, stem and head not scaled): a 3x3 stride-2 stem, 16 inverted-residual blocks (1x1 expansion unless
the ratio is 1, depthwise k x k, 1x1 projection, a residual when stride 1 and the widths match), a 1x1 head to 1280
channels, global average pooling and the classifier. Kernel sizes and widths come from the arrays' shapes; the
strides (2 at blocks 1, 3, 5 and 11) from the paper's stage table. Padding is TensorFlow's "SAME" (what the
original TF weights were trained with, and what the PyTorch port pads statically), BatchNorm epsilon 1e-3.
Input: RGB (x - 127) / 128, put inside the graph by :func:`efficientnet_lite0` (the project's [0, 1] contract).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from ros_road_seg.core.errors import ModelLoadError
from training.pretrained.layers import ScaleChannels

STRIDE_TWO_BLOCKS = (1, 3, 5, 11)
STAGE_ENDS = (0, 2, 4, 10, 15)  # last block at 1/2, 1/4, 1/8, 1/16, 1/32 of the input (encoder skips)
BN_EPSILON = 1e-3


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"weights '{path}' do not exist")
    try:
        with np.load(path) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"'{path}' is not a .npz archive: {error}") from None


def _get(weights: dict, key: str) -> np.ndarray:
    if key not in weights:
        raise ModelLoadError(f"EfficientNet-Lite weights lack '{key}'")
    return weights[key].astype(np.float32)


def _conv(x, weights: dict, key: str, stride: int = 1, name: str = ""):
    kernel = _get(weights, f"{key}.weight")  # O I kh kw
    conv = layers.Conv2D(kernel.shape[0], kernel.shape[2:], stride, padding="same", use_bias=False, name=name)
    out = conv(x)
    conv.set_weights([kernel.transpose(2, 3, 1, 0)])
    return out


def _depthwise(x, weights: dict, key: str, stride: int, name: str):
    kernel = _get(weights, f"{key}.weight")  # C 1 kh kw
    conv = layers.DepthwiseConv2D(kernel.shape[2:], stride, padding="same", use_bias=False, name=name)
    out = conv(x)
    conv.set_weights([kernel.transpose(2, 3, 0, 1)])
    return out


def _bn(x, weights: dict, key: str, name: str):
    norm = layers.BatchNormalization(epsilon=BN_EPSILON, name=name)
    out = norm(x)
    norm.set_weights([_get(weights, f"{key}.{part}") for part in ("weight", "bias", "running_mean", "running_var")])
    return out


def _relu6(x, name: str):
    return layers.ReLU(6.0, name=name)(x)


def efficientnet_lite0(inputs, weights_path: str | Path, include_top: bool = False, prefix: str = "effnet_"):
    """Build on ``inputs`` (RGB in [0, 1]): (the five stage outputs at 1/2 ... 1/32, the ImageNet logits or None)."""
    weights = load_npz(weights_path)
    blocks = sorted({int(k.split(".")[1]) for k in weights if k.startswith("_blocks.")})
    if blocks != list(range(16)):
        raise ModelLoadError(f"'{weights_path}': expected EfficientNet-Lite0's 16 blocks, found {len(blocks)}")
    x = ScaleChannels((255.0 / 128.0,) * 3, (-127.0 / 128.0,) * 3, name=f"{prefix}normalise")(inputs)
    x = _relu6(
        _bn(_conv(x, weights, "_conv_stem", 2, f"{prefix}stem"), weights, "_bn0", f"{prefix}stem_bn"),
        f"{prefix}stem_relu",
    )
    stages = []
    for index in blocks:
        key, name = f"_blocks.{index}", f"{prefix}block{index}"
        stride = 2 if index in STRIDE_TWO_BLOCKS else 1
        block_input = x
        if f"{key}._expand_conv.weight" in weights:
            x = _conv(x, weights, f"{key}._expand_conv", 1, f"{name}_expand")
            x = _relu6(_bn(x, weights, f"{key}._bn0", f"{name}_expand_bn"), f"{name}_expand_relu")
        x = _depthwise(x, weights, f"{key}._depthwise_conv", stride, f"{name}_depthwise")
        x = _relu6(_bn(x, weights, f"{key}._bn1", f"{name}_depthwise_bn"), f"{name}_depthwise_relu")
        x = _bn(
            _conv(x, weights, f"{key}._project_conv", 1, f"{name}_project"),
            weights,
            f"{key}._bn2",
            f"{name}_project_bn",
        )
        if stride == 1 and block_input.shape[-1] == x.shape[-1]:
            x = layers.Add(name=f"{name}_add")([block_input, x])
        if index in STAGE_ENDS:
            stages.append(x)
    logits = None
    if include_top:
        x = _relu6(
            _bn(_conv(x, weights, "_conv_head", 1, f"{prefix}head"), weights, "_bn1", f"{prefix}head_bn"),
            f"{prefix}head_relu",
        )
        x = layers.GlobalAveragePooling2D(name=f"{prefix}pool")(x)
        dense = layers.Dense(1000, name=f"{prefix}classifier")
        logits = dense(x)
        dense.set_weights([_get(weights, "_fc.weight").T, _get(weights, "_fc.bias")])
    return stages, logits


def efficientnet_lite0_classifier(weights_path: str | Path, input_size: tuple[int, int] = (224, 224)) -> keras.Model:
    """The whole ImageNet classifier (for the parity check against the original weights in PyTorch)."""
    inputs = keras.Input((*input_size, 3), name="image")
    _, logits = efficientnet_lite0(inputs, weights_path, include_top=True)
    return keras.Model(inputs, logits, name="efficientnet_lite0")
