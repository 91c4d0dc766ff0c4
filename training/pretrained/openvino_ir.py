"""OpenVINO IR v10 (``.xml`` graph + ``.bin`` constants) -> a trainable Keras graph, read with the standard library.

The IR is NCHW; the Keras graph is NHWC, so kernels are transposed (OIHW -> HWIO, grouped GOIHW -> HW C 1) and
softmax runs over the last axis. Shape arithmetic (``ShapeOf -> StridedSlice -> Add/Multiply -> Interpolate``)
is folded at build time from the static input size: the model is built for one input size, any multiple of the
network's stride. A ``Convolution`` followed by an ``Add`` of a per-channel constant becomes one biased Conv2D
(that is how the IR stores BatchNorm-folded convolutions).

Supported operation types are exactly those the road model uses; any other is an error naming the layer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ros_road_seg.core.errors import ModelLoadError
from training.pretrained.layers import AlignedBilinearResize, ChannelBias

_DTYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32, "u8": np.uint8}
SUPPORTED = {
    "Parameter", "Const", "Convolution", "GroupConvolution", "Add", "Multiply", "ReLU", "MaxPool", "AvgPool",
    "ShapeOf", "StridedSlice", "Interpolate", "SoftMax", "Result",
}  # fmt: skip


@dataclass
class IrLayer:
    id: str
    type: str
    name: str
    data: dict[str, str]
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (from layer id, from port), by input port order
    consumers: list[str] = field(default_factory=list)


@dataclass
class IrGraph:
    """The parsed ``.xml`` and the raw ``.bin``."""

    name: str
    layers: dict[str, IrLayer]
    order: list[str]  # topological
    weights: bytes

    def constant(self, layer_id: str) -> np.ndarray:
        layer = self.layers[layer_id]
        if layer.type != "Const":
            raise ModelLoadError(f"IR layer '{layer.name}' ({layer.type}) is not a constant")
        dtype = _DTYPES.get(layer.data.get("element_type", ""))
        if dtype is None:
            raise ModelLoadError(f"IR constant '{layer.name}': element type {layer.data.get('element_type')} unknown")
        offset, size = int(layer.data["offset"]), int(layer.data["size"])
        if offset + size > len(self.weights):
            raise ModelLoadError(f"IR constant '{layer.name}' reads past the end of the .bin ({offset}+{size})")
        shape = _ints(layer.data.get("shape", ""))
        value = np.frombuffer(self.weights, dtype, count=size // np.dtype(dtype).itemsize, offset=offset).reshape(shape)
        if dtype == np.float32:  # denormal weights (1996 in the Intel model) cost ONNX Runtime 2.5x; they are ~0
            value = np.where(np.abs(value) < np.finfo(np.float32).tiny, np.float32(0.0), value)
        return value

    @property
    def input_shape(self) -> tuple[int, ...]:
        parameter = next(layer for layer in self.layers.values() if layer.type == "Parameter")
        return tuple(_ints(parameter.data["shape"]))


def read_ir(xml_path: str | Path) -> IrGraph:
    """Parse ``model.xml`` (and ``model.bin`` beside it); an unreadable file or an unknown op names what is wrong."""
    xml_path = Path(xml_path)
    if not xml_path.name:  # an empty --intel-ir (an unset variable): Path('.') has no .bin to name
        raise ModelLoadError(f"OpenVINO IR file '{xml_path}' is not a file (give the model's .xml)")
    bin_path = xml_path.with_suffix(".bin")
    for path in (xml_path, bin_path):
        if not path.is_file():
            raise ModelLoadError(f"OpenVINO IR file '{path}' does not exist")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise ModelLoadError(f"'{xml_path}' is not an OpenVINO IR XML file: {error}") from None
    if root.tag != "net" or root.get("version") not in ("10", "11"):
        raise ModelLoadError(
            f"'{xml_path}': expected an IR v10/v11 <net>, got <{root.tag} version={root.get('version')}>"
        )
    graph_layers: dict[str, IrLayer] = {}
    for element in root.find("layers"):
        data = element.find("data")
        layer = IrLayer(
            element.get("id"), element.get("type"), element.get("name"), dict(data.attrib) if data is not None else {}
        )
        if layer.type not in SUPPORTED:
            raise ModelLoadError(
                f"'{xml_path}': layer '{layer.name}' has type {layer.type}, which this reader does not support"
            )
        graph_layers[layer.id] = layer
    incoming: dict[str, dict[int, tuple[str, str]]] = {}
    for edge in root.find("edges"):
        source, target = edge.get("from-layer"), edge.get("to-layer")
        incoming.setdefault(target, {})[int(edge.get("to-port"))] = (source, edge.get("from-port"))
        graph_layers[source].consumers.append(target)
    for layer_id, ports in incoming.items():
        graph_layers[layer_id].inputs = [ports[p] for p in sorted(ports)]
    return IrGraph(root.get("name", xml_path.stem), graph_layers, _topological(graph_layers), bin_path.read_bytes())


def _topological(graph_layers: dict[str, IrLayer]) -> list[str]:
    pending = {layer_id: len(layer.inputs) for layer_id, layer in graph_layers.items()}
    ready = [layer_id for layer_id, count in pending.items() if count == 0]
    order = []
    while ready:
        layer_id = ready.pop()
        order.append(layer_id)
        for consumer in graph_layers[layer_id].consumers:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    if len(order) != len(graph_layers):
        raise ModelLoadError("IR graph has a cycle or a dangling edge")
    return order


def _ints(text: str) -> list[int]:
    """``"2,3"`` (IR v10) or ``"2, 3"`` (IR v11 as OpenVINO writes it) -> [2, 3]."""
    return [int(v) for v in text.replace(" ", "").split(",") if v != ""]


def _pair(text: str) -> tuple[int, int]:
    values = _ints(text)
    return values[0], values[1]


def _flag(text: str | None) -> bool:
    return str(text).strip().lower() in ("1", "true")


def _nchw_shape(tensor) -> np.ndarray:
    _, height, width, channels = tensor.shape
    return np.array([1, channels, height, width], np.int64)


def _strided_slice(value: np.ndarray, begin, end, stride, data: dict) -> np.ndarray:
    """IR v10 StridedSlice on a 1-D constant: a mask bit of 1 means 'ignore this begin/end value'."""
    begin_mask = _ints(data.get("begin_mask") or "0")
    end_mask = _ints(data.get("end_mask") or "0")
    start = None if begin_mask[0] else int(begin[0])
    stop = None if end_mask[0] else int(end[0])
    return value[slice(start, stop, int(stride[0]))]


class _Builder:
    """Walks the graph in order; each output is a Keras tensor or, for shape arithmetic, a NumPy constant."""

    def __init__(self, graph: IrGraph, prefix: str) -> None:
        self.graph, self.prefix = graph, prefix
        self.values: dict[str, object] = {}
        self.fused_bias: dict[str, str] = {}  # Add layer id -> the convolution layer id whose bias it is

    def name(self, layer: IrLayer) -> str:
        clean = "".join(c if c.isalnum() or c in "_-" else "_" for c in layer.name)
        return f"{self.prefix}{clean}"

    def value(self, reference: tuple[str, str]):
        return self.values[reference[0]]

    def _bias_of(self, conv: IrLayer) -> np.ndarray | None:
        """The per-channel constant added to a convolution's output, if its only consumer is such an Add."""
        if len(conv.consumers) != 1:
            return None
        add = self.graph.layers[conv.consumers[0]]
        if add.type != "Add":
            return None
        other = [source for source, _ in add.inputs if source != conv.id]
        if len(other) != 1 or self.graph.layers[other[0]].type != "Const":
            return None
        bias = self.graph.constant(other[0])
        if bias.ndim != 4 or bias.shape[0] != 1 or bias.shape[2:] != (1, 1):
            return None
        self.fused_bias[add.id] = conv.id
        return bias.reshape(-1)

    def convolution(self, layer: IrLayer, x):
        kernel = self.graph.constant(layer.inputs[1][0]).astype(np.float32)
        strides, dilations = _pair(layer.data["strides"]), _pair(layer.data["dilations"])
        pads_begin, pads_end = _pair(layer.data["pads_begin"]), _pair(layer.data["pads_end"])
        grouped = layer.type == "GroupConvolution"
        kernel_size = kernel.shape[-2:]
        same = strides == (1, 1) and all(
            pads_begin[i] == pads_end[i] == dilations[i] * (kernel_size[i] - 1) // 2 and kernel_size[i] % 2 == 1
            for i in range(2)
        )
        if not same and (pads_begin != (0, 0) or pads_end != (0, 0)):
            x = layers.ZeroPadding2D(
                ((pads_begin[0], pads_end[0]), (pads_begin[1], pads_end[1])), name=f"{self.name(layer)}_pad"
            )(x)
        bias = self._bias_of(layer)
        common = dict(
            strides=strides,
            dilation_rate=dilations,
            padding="same" if same else "valid",
            use_bias=bias is not None,
            name=self.name(layer),
        )
        if grouped:
            groups, out_per_group, in_per_group = kernel.shape[:3]
            if out_per_group != 1 or in_per_group != 1:
                raise ModelLoadError(f"IR layer '{layer.name}': only depthwise group convolutions are supported")
            keras_layer = layers.DepthwiseConv2D(tuple(kernel_size), **common)
            weights = [kernel.reshape(groups, *kernel_size).transpose(1, 2, 0)[..., None]]
        else:
            keras_layer = layers.Conv2D(kernel.shape[0], tuple(kernel_size), **common)
            weights = [kernel.transpose(2, 3, 1, 0)]
        if bias is not None:
            weights.append(bias.astype(np.float32))
        output = keras_layer(x)
        keras_layer.set_weights(weights)
        return output

    def add(self, layer: IrLayer, inputs: list):
        if layer.id in self.fused_bias:
            return self.value((self.fused_bias[layer.id], "0"))
        if all(isinstance(v, np.ndarray) for v in inputs):
            return inputs[0] + inputs[1]
        constants = [v for v in inputs if isinstance(v, np.ndarray)]
        if not constants:
            return layers.Add(name=self.name(layer))(inputs)
        tensor = next(v for v in inputs if not isinstance(v, np.ndarray))
        bias_layer = ChannelBias(name=self.name(layer))
        output = bias_layer(tensor)
        bias_layer.set_weights([constants[0].reshape(-1).astype(np.float32)])
        return output

    def build(self, layer: IrLayer):
        kind = layer.type
        inputs = [self.value(reference) for reference in layer.inputs]
        if kind == "Const":
            return self.graph.constant(layer.id)
        if kind in ("Convolution", "GroupConvolution"):
            return self.convolution(layer, inputs[0])
        if kind == "Add":
            return self.add(layer, inputs)
        if kind == "Multiply":
            if not all(isinstance(v, np.ndarray) for v in inputs):
                raise ModelLoadError(f"IR layer '{layer.name}': only constant Multiply (shape arithmetic) is supported")
            return inputs[0] * inputs[1]
        if kind == "ReLU":
            return layers.ReLU(name=self.name(layer))(inputs[0])
        if kind in ("MaxPool", "AvgPool"):
            return self.pool(layer, inputs[0])
        if kind == "ShapeOf":
            return _nchw_shape(inputs[0])
        if kind == "StridedSlice":
            return _strided_slice(inputs[0], inputs[1], inputs[2], inputs[3], layer.data)
        if kind == "Interpolate":
            if layer.data.get("mode") != "linear" or _ints(layer.data.get("axes", "2,3")) != [2, 3]:
                raise ModelLoadError(f"IR layer '{layer.name}': only linear interpolation over H, W is supported")
            height, width = (int(v) for v in np.asarray(inputs[1]).reshape(-1)[:2])
            if _flag(layer.data.get("align_corners")):
                return AlignedBilinearResize((height, width), name=self.name(layer))(inputs[0])
            return layers.Resizing(height, width, "bilinear", name=self.name(layer))(inputs[0])
        if kind == "SoftMax":
            if layer.data.get("axis") != "1":
                raise ModelLoadError(f"IR layer '{layer.name}': softmax over axis {layer.data.get('axis')} unsupported")
            return layers.Softmax(axis=-1, name=self.name(layer))(inputs[0])
        if kind == "Result":
            return inputs[0]
        raise ModelLoadError(f"IR layer '{layer.name}' of type {kind} is not supported")

    def pool(self, layer: IrLayer, x):
        kernel, strides = _pair(layer.data["kernel"]), _pair(layer.data["strides"])
        if _pair(layer.data.get("pads_begin", "0,0")) != (0, 0) or _pair(layer.data.get("pads_end", "0,0")) != (0, 0):
            raise ModelLoadError(f"IR layer '{layer.name}': padded pooling is not supported")
        for axis in (0, 1):
            size = x.shape[1 + axis]
            if (size - kernel[axis]) % strides[axis]:
                raise ModelLoadError(
                    f"IR layer '{layer.name}': input {x.shape[1]}x{x.shape[2]} is not a multiple of the pooling "
                    f"stride; choose an input size divisible by the network's stride"
                )
        pool_class = layers.MaxPooling2D if layer.type == "MaxPool" else layers.AveragePooling2D
        return pool_class(kernel, strides, padding="valid", name=self.name(layer))(x)


def ir_tensors(graph: IrGraph, x, prefix: str = "") -> tuple[object, dict[str, object]]:
    """Build ``graph`` on the Keras tensor ``x`` (NHWC, what the IR takes): (output tensor, tensor by IR layer name).

    Every layer gets the IR's weights as it is built, and its Keras name is the IR name (cleaned) after ``prefix``,
    so a caller can pick encoder stages by name (:data:`training.pretrained.intel_road.ENCODER_STAGES`)."""
    builder = _Builder(graph, prefix)
    outputs, by_name = [], {}
    for layer_id in graph.order:
        layer = graph.layers[layer_id]
        builder.values[layer_id] = x if layer.type == "Parameter" else builder.build(layer)
        if not isinstance(builder.values[layer_id], np.ndarray):
            by_name[layer.name] = builder.values[layer_id]
        if layer.type == "Result":
            outputs.append(builder.values[layer_id])
    if len(outputs) != 1:
        raise ModelLoadError(f"IR '{graph.name}': expected one Result, found {len(outputs)}")
    return outputs[0], by_name


def ir_to_keras(xml_path: str | Path, input_size: tuple[int, int], name: str | None = None) -> keras.Model:
    """The IR network as a Keras model for NHWC input of ``input_size`` with the IR's own input convention (for the
    Intel road model BGR in 0-255) and its own output (softmax over classes, NHWC)."""
    graph = read_ir(xml_path)
    model_input = keras.Input((*input_size, graph.input_shape[1]), name="ir_input")
    output, _ = ir_tensors(graph, model_input)
    return keras.Model(model_input, output, name=name or graph.name.replace("-", "_"))
