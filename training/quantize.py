"""``python -m training.quantize MODEL.onnx --calib DIR --out MODEL_int8.onnx``: INT8 (CPU) or FP16 (GPU) models.

INT8: ONNX Runtime static quantization, QDQ format, per-channel weights, calibrated on *training* frames pushed
through the node's own ``preprocess`` (never on the frames you will evaluate on). FP16: weights and activations
in half precision with float32 input/output kept, for CUDA. Metadata is carried over, with the precision added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import exit_codes
from ros_road_seg.core.model import FP16_SIBLING_KEY
from ros_road_seg.core.segmenter import Segmenter
from training.onnx_export import read_metadata, write_metadata
from training.quantization import convert_fp16, quantize_int8


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
            write_metadata(args.out, {**read_metadata(args.out), FP16_SIBLING_KEY: args.fp16_sibling})
    else:
        convert_fp16(args.model, args.out)
    Segmenter(args.out, providers="cpu")  # the result must load through the node's core
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {args.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
