"""``python -m training.interpolate RUN --alpha A --out DIR``: a run's weights moved toward the network it started
from (WiSE-FT, :mod:`training.weight_space`): ``(1 - A) x start + A x RUN``. DIR is a run folder that
``training.export``, ``training.evaluate`` and ``--init-from`` take like any other; the export's metadata says
``road_seg.wise_ft_alpha``. Pick A from ``training.crossval --interpolate``'s table, not from the frames you score."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.errors import exit_codes
from training.weight_space import TOWARD, check_alpha, describe_toward, interpolate


@exit_codes("training.interpolate")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.interpolate", description=__doc__)
    parser.add_argument("run", type=Path, help="a finished run folder (its config.json rebuilds its start)")
    parser.add_argument("--alpha", type=float, required=True, help="0: the start, 1: the run as trained")
    parser.add_argument("--out", type=Path, required=True, help="the new run folder")
    parser.add_argument(
        "--toward",
        default="start",
        metavar="|".join([*TOWARD, "MODEL"]),
        help="the run's own start, the pretrained network at the root of its chain of --init-from starts, or a .keras",
    )
    args = parser.parse_args(argv)
    check_alpha(args.alpha)
    model = interpolate(args.run, args.alpha, args.out, args.toward)
    other = describe_toward(args.toward)
    print(f"'{model}': {1 - args.alpha:g} x {other} + {args.alpha:g} x the trained weights of '{args.run}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
