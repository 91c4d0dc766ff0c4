"""``python -m training.quantize MODEL.onnx --calib DIR --out MODEL_int8.onnx``: INT8 (CPU) or FP16 (GPU) models.

INT8: ONNX Runtime static quantization, QDQ format, per-channel weights, calibrated on *training* frames pushed
through the node's own ``preprocess`` (never on the frames you will evaluate on). FP16: weights and activations
in half precision with float32 input/output kept, for CUDA. Metadata is carried over, with the precision added.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import RoadSegError, exit_codes
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.core.model import FP16_SIBLING_KEY, METADATA_PREFIX
from ros_road_seg.core.segmenter import Segmenter, preprocess


def calibration_frames(folder: Path, input_size: tuple[int, int], count: int, seed: int = 0) -> list[np.ndarray]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RoadSegError(f"--calib folder '{folder}' holds no PNG/JPG frames")
    chosen = np.random.default_rng(seed).permutation(len(paths))[:count]
    return [preprocess(read_rgb_file(paths[i]), input_size).copy() for i in sorted(chosen)]


class _Reader:
    """onnxruntime.quantization CalibrationDataReader over preprocessed frames."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]) -> None:
        self._items = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._items, None)


def _metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _write_metadata(path: Path, metadata: dict[str, str]) -> None:
    from training.export import write_metadata

    write_metadata(path, metadata)


def quantize_int8(model: Path, calib: Path, out: Path, count: int = 64) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    segmenter = Segmenter(model, providers="cpu", warmup=False)
    tensors = calibration_frames(calib, segmenter.input_size, count)
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
    metadata = _metadata(model)
    metadata.update(
        {
            f"{METADATA_PREFIX}precision": "int8 (QDQ, per-channel, static)",
            f"{METADATA_PREFIX}calibration": f"{len(tensors)} frames from {Path(calib).name}",
        }
    )
    _write_metadata(out, metadata)
    return metadata


def convert_fp16(model: Path, out: Path) -> dict:
    import onnx
    from onnxconverter_common import float16

    converted = float16.convert_float_to_float16(onnx.load(str(model)), keep_io_types=True)
    onnx.save(converted, str(out))
    metadata = _metadata(model)
    metadata[f"{METADATA_PREFIX}precision"] = "fp16 (float32 input/output)"
    _write_metadata(out, metadata)
    return metadata


@exit_codes("training.quantize")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.quantize", description=__doc__)
    parser.add_argument("model", type=Path, help="float32 ONNX model from training.export")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precision", choices=("int8", "fp16"), default="int8")
    parser.add_argument("--calib", type=Path, default=None, help="folder of TRAINING frames (int8)")
    parser.add_argument("--calib-count", type=bounded_number(1, integer=True), default=64)
    parser.add_argument(
        "--fp16-sibling",
        default=None,
        metavar="FILE_NAME",
        help="int8: the FP16 model beside it that GPU providers should run instead (written into the metadata)",
    )
    args = parser.parse_args(argv)
    if args.precision == "int8":
        if args.calib is None:
            parser.error("--calib is required for int8")
        quantize_int8(args.model, args.calib, args.out, args.calib_count)
        if args.fp16_sibling:
            _write_metadata(args.out, {**_metadata(args.out), FP16_SIBLING_KEY: args.fp16_sibling})
    else:
        convert_fp16(args.model, args.out)
    Segmenter(args.out, providers="cpu")  # the result must load through the node's core
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {args.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
