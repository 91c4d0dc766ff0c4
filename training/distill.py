"""``python -m training.distill --teacher MODEL.onnx --frames DIR --out SOFT``: a teacher's road probabilities on
unlabelled frames, as soft labels a student trains on (``--mix soft:SOFT:SHARE``).

The teacher runs through the node's own core (preprocess, ONNX Runtime, bilinear resize back to the frame), and
several teachers are averaged. ``SOFT/labels/NAME.png`` holds the probability x 255 at the frame's size;
``SOFT/teacher.json`` names the frames folder, every teacher, and what each teacher was trained on, so a
cross-validation run can prove that no fold's teacher saw that fold's labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.errors import exit_codes
from training.soft_labels import COMBINE_CHOICES, distill


@exit_codes("training.distill")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distill", description=__doc__)
    parser.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher ONNX models (averaged)")
    parser.add_argument("--frames", type=Path, required=True, help="folder of unlabelled frames")
    parser.add_argument("--out", type=Path, required=True, help="soft-label folder")
    parser.add_argument(
        "--combine",
        choices=COMBINE_CHOICES,
        default="mean",
        help="several teachers: average them, or let the most certain one speak per frame",
    )
    parser.add_argument("--flip", action="store_true", help="each teacher also answers on the mirrored frame")
    args = parser.parse_args(argv)
    manifest = distill(args.teacher, args.frames, args.out, args.combine, flip=args.flip)
    print(f"wrote {len(manifest['names'])} soft labels from {len(manifest['teachers'])} teacher(s) to '{args.out}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
