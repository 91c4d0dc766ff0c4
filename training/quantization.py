"""INT8 (CPU) and FP16 (GPU) versions of an exported ONNX model (the library behind ``python -m training.quantize``
and ``training.adapt``).

INT8: ONNX Runtime static quantization, QDQ format, per-channel weights, calibrated on *training* frames pushed
through the node's own ``preprocess`` (never on the frames you will evaluate on). FP16: weights and activations
in half precision with float32 input/output kept, for CUDA. Metadata is carried over, with the precision added.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.core.model import METADATA_PREFIX
from ros_road_seg.core.segmenter import Segmenter, preprocess, preprocess_tiles
from training.onnx_export import read_metadata, write_metadata


def calibration_frames(
    folder: Path, input_size: tuple[int, int], count: int, seed: int = 0, tiles: bool = False
) -> list[np.ndarray]:
    """``count`` frames of ``folder`` as the model sees them: through the one ``preprocess``, or for a tiled model
    (``tiles``) as the tiles of the aspect-kept frame, each tile one calibration input."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RoadSegError(f"--calib folder '{folder}' holds no PNG/JPG frames")
    chosen = np.random.default_rng(seed).permutation(len(paths))[:count]
    tensors = []
    for index in sorted(chosen):
        rgb = read_rgb_file(paths[index])
        if not tiles:
            tensors.append(preprocess(rgb, input_size).copy())
            continue
        tensors += [tile[np.newaxis] for tile in preprocess_tiles(rgb, input_size)[0]]
    return tensors


class _Reader:
    """onnxruntime.quantization CalibrationDataReader over preprocessed frames."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]) -> None:
        self._items = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._items, None)


def quantize_int8(model: Path, calib: Path, out: Path, count: int = 64) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    segmenter = Segmenter(model, providers="cpu", warmup=False)
    tiled = segmenter.info.tiling == "aspect"
    tensors = calibration_frames(calib, segmenter.input_size, count, tiles=tiled)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Reader(segmenter.input_name, tensors),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    metadata = read_metadata(model)
    metadata.update(
        {
            f"{METADATA_PREFIX}precision": "int8 (QDQ, per-channel, static)",
            f"{METADATA_PREFIX}calibration": f"{len(tensors)} {'tiles of frames' if tiled else 'frames'} from "
            f"{Path(calib).name}",
        }
    )
    write_metadata(out, metadata)
    return metadata


def convert_fp16(model: Path, out: Path) -> dict:
    import onnx
    from onnxconverter_common import float16

    with warnings.catch_warnings(record=True) as caught:  # a warning per weight tensor with tiny values: counted
        warnings.simplefilter("always", UserWarning)
        converted = float16.convert_float_to_float16(onnx.load(str(model)), keep_io_types=True)
    truncated = sum("truncated" in str(w.message) for w in caught)
    for other in (w for w in caught if "truncated" not in str(w.message)):  # nothing else is swallowed
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if truncated:
        print(f"fp16: {truncated} weight tensors hold values outside half precision's range, clamped (1e-20 -> 1e-7)")
    onnx.save(converted, str(out))
    metadata = read_metadata(model)
    metadata[f"{METADATA_PREFIX}precision"] = "fp16 (float32 input/output)"
    write_metadata(out, metadata)
    return metadata
