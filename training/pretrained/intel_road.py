"""Intel's road-segmentation-adas-0001 (Open Model Zoo, Apache-2.0) in the project's contract, and its encoder.

The IR takes BGR in 0-255 and gives a softmax over (background, road, curb, lane mark); the project's contract is
RGB in [0, 1] in and the road probability out, so the normalisation and "road = road + mark" live in the graph.

The network itself is an encoder-decoder: residual depthwise blocks down to 1/8 of the input, a pooled context
module at 1/8 (average pools to 1/16 and 1/32, upsampled and added), then a light decoder with additive skips from
1/4 and 1/2. :data:`ENCODER_STAGES` names the encoder's outputs at 1/2, 1/4 and 1/8 (after the context module),
which a U-Net or UNet++ decoder of this project takes as its skips.
"""

from __future__ import annotations

from pathlib import Path

import keras

from training.pretrained.layers import RoadLogit, ScaleChannels
from training.pretrained.openvino_ir import IrGraph, ir_tensors, read_ir

DEFAULT_IR = Path("../shared/weights/road-segmentation-adas-0001/road-segmentation-adas-0001.xml")
ENCODER_STAGES = ("L0038_ReLU", "L0103_ReLU", "L0298_AddBackward1")  # 1/2 (32 ch), 1/4 (48 ch), 1/8 (48 ch)
CLASS_LOGITS = "L0316_Upsample"  # the 4 class logits at the input size, the softmax's input
ROAD_CLASSES, OTHER_CLASSES = (1, 3), (0, 2)  # road and lane marking; background and curb
STRIDE = 32  # the context module pools the 1/8 map by 4: inputs must be multiples of 32
PREFIX = "intel_"
LICENCE = "Apache-2.0 (Intel Open Model Zoo road-segmentation-adas-0001)"


def check_input_size(input_size: tuple[int, int]) -> None:
    for size in input_size:
        if size % STRIDE:
            raise ValueError(f"input size {input_size}: the Intel road network needs multiples of {STRIDE}")


def _graph(xml_path: str | Path) -> IrGraph:
    return read_ir(Path(xml_path))


def bgr_255(inputs):
    """RGB [0, 1] -> BGR [0, 255], inside the graph."""
    return ScaleChannels((255.0, 255.0, 255.0), (0.0, 0.0, 0.0), order=(2, 1, 0), name=f"{PREFIX}bgr255")(inputs)


def _road_logit(tensors: dict):
    """The network's road logit (its softmax, summed over road + lane mark, taken as a logit without a softmax)."""
    return RoadLogit(ROAD_CLASSES, OTHER_CLASSES, name=f"{PREFIX}road_logit")(tensors[CLASS_LOGITS])


def intel_road_model(xml_path: str | Path = DEFAULT_IR, input_size: tuple[int, int] = (192, 608)) -> keras.Model:
    """The whole Intel network as a road-probability model (trainable end to end; also the teacher)."""
    check_input_size(input_size)
    inputs = keras.Input((*input_size, 3), name="image")
    _, tensors = ir_tensors(_graph(xml_path), bgr_255(inputs), PREFIX)
    road = keras.layers.Activation("sigmoid", name="road_probability")(_road_logit(tensors))
    return keras.Model(inputs, road, name="intel_road")


def intel_encoder(inputs, xml_path: str | Path = DEFAULT_IR) -> tuple[list, object]:
    """(the encoder's feature maps at 1/2, 1/4 and 1/8 of ``inputs`` (RGB [0, 1]), the whole network's road logit
    at the input size), with Intel's trained weights."""
    check_input_size(tuple(inputs.shape[1:3]))
    _, tensors = ir_tensors(_graph(xml_path), bgr_255(inputs), PREFIX)
    return [tensors[name] for name in ENCODER_STAGES], _road_logit(tensors)
