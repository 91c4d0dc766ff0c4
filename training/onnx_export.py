"""ONNX export of a trained model: tf2onnx with a parity check and the ``road_seg.*`` metadata (the library behind
``python -m training.export``, ``training.adapt`` and ``training.compare``).

The ONNX input is ``image`` (NHWC float32 in [0, 1], dynamic batch), the output the road probability. Keras and
ONNX Runtime must agree to 1e-4 on every export, or nothing is written. ``road_seg.*`` metadata carries what
the node needs (input size, threshold, normalisation) and what a user wants to know (architecture, width, data,
validation IoU).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.model import DEFAULT_NORMALISATION, DEFAULT_THRESHOLD, METADATA_PREFIX

PARITY_TOLERANCE = 1e-4
UPSAMPLE_MODES = ("repeat", "resize")


class ExportError(RoadSegError):
    """An export that must not be used (parity failure, wrong model shape)."""


def inference_model(model, prune_level: int | None = None):
    """The single-output model to export: a pruned UNet++ level, or the last head of a deep-supervised model."""
    import keras

    from training.models import prune_unet_plus_plus

    if prune_level is not None:
        return prune_unet_plus_plus(model, prune_level)
    if len(model.outputs) > 1:
        return keras.Model(model.input, model.outputs[-1], name=model.name)
    return model


def with_resize_upsampling(model):
    """The same model with every nearest ``UpSampling2D`` computed by a resize op instead (``--upsample resize``).

    Keras 3 writes a nearest 2x upsampling as two ``repeat`` ops; tf2onnx turns them into Shape/Gather/Tile/Reshape
    chains wrapped in NHWC<->NCHW transposes. ``resize_nearest_neighbor`` with an integer factor picks the same pixels
    and exports as one ONNX ``Resize``. Weights are copied; the parity check against the original model proves the
    outputs did not change. Measured on the 2-core CPU (U-Net 16, 224): FP32 raw ~9 % faster with Resize, but INT8
    ~15 % *slower* (ONNX Runtime's uint8 NHWC Resize is a generic loop: 23-29 % of kernel time), hence not the default.
    """
    import keras
    import tensorflow as tf

    class NearestResize(keras.layers.Layer):
        def __init__(self, factor: tuple[int, int], **kwargs) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            size = (x.shape[1] * self.factor[0], x.shape[2] * self.factor[1])
            return tf.compat.v1.image.resize_nearest_neighbor(x, size, align_corners=False, half_pixel_centers=False)

    def swap(layer):
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
            return NearestResize(tuple(layer.size), name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    if not any(isinstance(layer, keras.layers.UpSampling2D) for layer in model.layers):
        return model
    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return clone


def fold_input_scaling(model):
    """The same model with a zero-offset ``ScaleChannels`` (channel order and scale, e.g. RGB [0, 1] -> BGR 0-255
    for the Intel network) folded into the first convolution's kernel (through zero padding, which a scale does not
    change): two full-frame elementwise passes fewer at run time. The export's parity check against the original
    model proves the result unchanged; any other model is returned as it is."""
    import keras

    from training.pretrained.layers import ScaleChannels

    scalers = [layer for layer in model.layers if isinstance(layer, ScaleChannels) and not any(layer.offset)]
    if len(scalers) != 1:
        return model
    scaler = scalers[0]
    consumer = scaler
    while True:  # follow the single chain of consumers through zero padding to the convolution
        nodes = [n for n in model.layers if any(t is consumer.output for t in _inputs_of(n))]
        if len(nodes) != 1:
            return model
        consumer = nodes[0]
        if isinstance(consumer, keras.layers.Conv2D):
            break
        if not isinstance(consumer, keras.layers.ZeroPadding2D):
            return model

    def swap(layer):
        if layer is scaler:
            return keras.layers.Identity(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    kernel, *rest = consumer.get_weights()
    folded = np.zeros_like(kernel)
    for j, (source, scale) in enumerate(zip(scaler.order, scaler.scale, strict=True)):
        folded[:, :, source, :] += kernel[:, :, j, :] * scale
    clone.get_layer(consumer.name).set_weights([folded, *rest])
    return clone


def _inputs_of(layer) -> list:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def convert(model, path: Path, opset: int = 17) -> None:
    import tensorflow as tf
    import tf2onnx

    height, width = int(model.input.shape[1]), int(model.input.shape[2])
    signature = [tf.TensorSpec((None, height, width, 3), tf.float32, name="image")]
    model.output_names = ["road_probability"]
    tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(path))


def check_parity(keras_predict, onnx_path: Path, inputs: np.ndarray, tolerance: float = PARITY_TOLERANCE) -> float:
    """Max |keras - onnxruntime| over ``inputs``; raises ExportError above ``tolerance``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    keras_out = np.asarray(keras_predict(inputs))
    if onnx_out.shape != keras_out.shape:
        raise ExportError(f"parity check failed: ONNX output shape {onnx_out.shape} != Keras {keras_out.shape}")
    difference = float(np.max(np.abs(onnx_out - keras_out)))
    if not difference <= tolerance:
        raise ExportError(
            f"parity check failed: max |Keras - ONNX Runtime| = {difference:.3g} > {tolerance:g}; "
            "the ONNX file was not written"
        )
    return difference


def read_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata properties (all of them, not only ``road_seg.*``)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def write_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    existing = {prop.key: prop for prop in model.metadata_props}
    for key, value in metadata.items():
        if key in existing:
            existing[key].value = str(value)
        else:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def run_metadata(source: Path) -> dict[str, str]:
    """What the run folder knows: architecture, width, data (mixed-in datasets and excluded frames), and the best
    validation IoU when there was a validation set (a last-epoch run has none to report)."""
    from training.recipe import read_run_config

    folder = source if source.is_dir() else source.parent
    metadata: dict[str, str] = {}
    state_path = folder / "state.json"
    config = read_run_config(source)
    if "model" in config:  # the recipe's --model (run folders before this round also wrote "architecture")
        metadata["architecture"] = str(config["model"])
    for key in ("architecture", "base_filters", "dataset", "epochs", "loss", "augment", "deep_supervision"):
        if key in config:
            metadata[key] = str(config[key])
    if config.get("tiles"):  # trained on tiles of the aspect-kept frame: the node runs the same tiles
        metadata["tiling"] = "aspect"
    if config.get("init_from"):  # a later training stage: say where it started
        metadata["init_from"] = Path(str(config["init_from"])).name
    if config.get("wise_ft"):  # weights interpolated toward the run's start (training.weight_space)
        metadata["wise_ft_alpha"] = f"{config['wise_ft']['alpha']:g}"
        metadata["wise_ft_toward"] = Path(str(config["wise_ft"].get("toward", "start"))).name  # start, origin, a file
    if config.get("mix_frames"):
        metadata["dataset"] = "+".join([str(config["dataset"]), *config["mix_frames"]])
        metadata["train_frames"] = ", ".join(
            [f"{config['dataset']} {config['train_frames']}"] + [f"{d} {n}" for d, n in config["mix_frames"].items()]
        )
    if config.get("train_names"):  # what a teacher distilled from this model saw: checked against k-fold folds
        metadata["trained_on_names"] = " ".join(config["train_names"])
    if config.get("excluded_names"):
        metadata["never_trained_on"] = " ".join(config["excluded_names"])
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if not state.get("keep_last"):
            metadata["val_iou_model_size"] = f"{state['best']:.4f}"
    for eval_path in sorted(folder.glob("eval_*_val.json")):
        dataset = eval_path.stem.split("_")[1]
        metadata[f"val_iou_full_{dataset}"] = f"{json.loads(eval_path.read_text())['mean_iou_full']:.4f}"
    return metadata


def export(
    source: Path,
    out: Path,
    prune_level: int | None = None,
    opset: int = 17,
    threshold: float = DEFAULT_THRESHOLD,
    tolerance: float = PARITY_TOLERANCE,
    extra_metadata: dict | None = None,
    upsample: str = "repeat",
    input_size: tuple[int, int] | None = None,
) -> dict:
    """Export ``source`` (.keras or run folder) to ``out``; returns the metadata written.

    ``upsample``: ``repeat`` (Keras's own ops; the faster INT8 after quantization) or ``resize`` (faster FP32).
    ``input_size``: export the same weights at another (height, width) than they were trained at."""
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample '{upsample}' is not one of {', '.join(UPSAMPLE_MODES)}")
    from training.models import count_macs, load_keras_model, with_input_size

    model = load_keras_model(source)
    trained_size = tuple(int(v) for v in model.input.shape[1:3])
    if input_size is not None and tuple(input_size) != trained_size:
        model = with_input_size(model, tuple(input_size))
        extra_metadata = {**(extra_metadata or {}), "trained_input_size": f"{trained_size[0]}x{trained_size[1]}"}
    model = inference_model(model, prune_level)
    height, width = int(model.input.shape[1]), int(model.input.shape[2])
    if model.input.shape[-1] != 3 or model.output.shape[-1] != 1:
        raise ExportError(
            f"model input {model.input.shape} / output {model.output.shape}: expected Nx{height}x"
            f"{width}x3 -> Nx{height}x{width}x1"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_path = Path(tmp) / out.name
        convert(fold_input_scaling(with_resize_upsampling(model) if upsample == "resize" else model), tmp_path, opset)
        rng = np.random.default_rng(0)
        inputs = rng.random((2, height, width, 3), dtype=np.float32)
        difference = check_parity(lambda x: model(x, training=False), tmp_path, inputs, tolerance)
        metadata = {f"{METADATA_PREFIX}{key}": value for key, value in run_metadata(Path(source)).items()}
        metadata.update(
            {
                f"{METADATA_PREFIX}input_height": str(height),
                f"{METADATA_PREFIX}input_width": str(width),
                f"{METADATA_PREFIX}threshold": str(threshold),
                f"{METADATA_PREFIX}normalisation": DEFAULT_NORMALISATION,
                f"{METADATA_PREFIX}params": str(model.count_params()),
                f"{METADATA_PREFIX}gmacs": f"{count_macs(model) / 1e9:.3f}",
                f"{METADATA_PREFIX}prune_level": "" if prune_level is None else f"L{prune_level}",
                f"{METADATA_PREFIX}parity_max_abs_diff": f"{difference:.2e}",
                f"{METADATA_PREFIX}exported": time.strftime("%Y-%m-%d"),
            }
        )
        metadata.update({f"{METADATA_PREFIX}{k}": str(v) for k, v in (extra_metadata or {}).items()})
        write_metadata(tmp_path, metadata)
        os.replace(tmp_path, out)
    return metadata


def export_intel_zero_shot(ir: Path, input_size: tuple[int, int], out: Path, keras_out: Path | None = None) -> dict:
    """Intel's road model as it comes (no training), under the project's contract: the off-the-shelf comparison row
    (``road_seg.never_trained_on = all``: it saw no frame of this project). ``keras_out``: also its Keras weights,
    what an adapted model is moved back toward (``training.adapt --toward``)."""
    from training.pretrained.intel_road import LICENCE, intel_road_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        intel_road_model(ir, input_size).save(folder / "best.keras")
        if keras_out is not None:
            shutil.copyfile(folder / "best.keras", keras_out)
        (folder / "config.json").write_text(
            json.dumps({"architecture": "intel_road", "dataset": "none (zero-shot: Intel's own road data)"})
        )
        extra = {
            "source": f"Intel Open Model Zoo road-segmentation-adas-0001, converted from '{ir.name}' by "
            "training.pretrained; zero-shot",
            "licence": LICENCE,
            "never_trained_on": "all",
            "base_filters": "n/a (Intel's own widths)",
        }
        return export(folder, out, extra_metadata=extra)
