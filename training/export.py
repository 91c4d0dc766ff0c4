"""``python -m training.export RUN --out models/NAME.onnx``: tf2onnx export with a parity check and metadata.

The ONNX input is ``image`` (NHWC float32 in [0, 1], dynamic batch), the output the road probability. Keras and
ONNX Runtime must agree to 1e-4 on every export, or nothing is written. ``road_seg.*`` metadata carries what
the node needs (input size, threshold, normalisation) and what a user wants to know (architecture, width, data,
validation IoU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import exit_codes
from ros_road_seg.core.model import DEFAULT_THRESHOLD, METADATA_PREFIX
from training.onnx_export import UPSAMPLE_MODES, export, export_intel_zero_shot


@exit_codes("training.export")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("run", type=Path, nargs="?", help="run folder (its best.keras) or a .keras file")
    parser.add_argument(
        "--intel-ir", type=Path, default=None, help="instead of a run: Intel's road model IR as it comes (zero-shot)"
    )
    parser.add_argument(
        "--input-size",
        type=bounded_number(16, 8192, integer=True),
        nargs=2,
        default=None,
        metavar=("HEIGHT", "WIDTH"),
        help="export at this input size (a run: its weights rebuilt at it; --intel-ir: default 192 608)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prune", type=int, default=None, metavar="LEVEL", help="UNet++: export head L1..L4 only")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument(
        "--threshold",
        type=bounded_number(0.0, 1.0),
        default=DEFAULT_THRESHOLD,
        help="the model's own threshold (metadata)",
    )
    parser.add_argument(
        "--upsample",
        choices=UPSAMPLE_MODES,
        default="repeat",
        help="how nearest upsampling is exported: repeat (Tile; faster once INT8) or resize (faster in FP32)",
    )
    parser.add_argument(
        "--save-keras", type=Path, default=None, help="also save the model as this uncompiled .keras (shipping)"
    )
    args = parser.parse_args(argv)
    if args.opset < 17:
        parser.error(f"--opset {args.opset}: 17 or newer is required")
    if (args.run is None) == (args.intel_ir is None):
        parser.error("give a run folder / .keras file, or --intel-ir (one of the two)")
    if args.intel_ir is not None:
        size = tuple(args.input_size or (192, 608))
        metadata = export_intel_zero_shot(args.intel_ir, size, args.out, args.save_keras)
    else:
        metadata = export(
            args.run,
            args.out,
            args.prune,
            args.opset,
            args.threshold,
            upsample=args.upsample,
            input_size=args.input_size,
        )
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); parity max abs diff "
        f"{metadata[METADATA_PREFIX + 'parity_max_abs_diff']}"
    )
    for key, value in sorted(metadata.items()):
        print(f"  {key} = {value}")
    if args.save_keras is not None and args.run is not None:
        from training.models import load_keras_model

        load_keras_model(args.run).save(args.save_keras)
    if args.save_keras is not None:
        print(f"wrote {args.save_keras}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
