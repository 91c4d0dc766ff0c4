"""``python -m training.train``: train U-Net or UNet++ for the road class, on one dataset or several mixed.

A run folder holds config.json, history.csv, curves.png, best.keras, last.keras (last finite epoch, for
``--resume``) and state.json. With validation frames, best.keras is the epoch with the best validation road IoU;
with ``--val 0`` there is nothing to choose on and best.keras is the last epoch (what cross-validation measures).
A NaN loss stops the run without writing a checkpoint of it. Exit codes: 0 ok, 1 a clear error (bad data, NaN
loss), 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.errors import exit_codes
from training.data import KITTI_DEFAULT_VAL_COUNT
from training.fitting import fit_run, run_data
from training.recipe import Recipe, add_recipe_arguments, parse_with_recipe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    add_recipe_arguments(parser)
    parser.add_argument(
        "--val",
        type=float,
        default=KITTI_DEFAULT_VAL_COUNT,
        help="KITTI validation: count (>= 1, default the last 30 names) or fraction (< 1); 0 = none (keep the last "
        "epoch; also for CamVid, whose validation is otherwise its val/ folder)",
    )
    parser.add_argument("--val-seed", type=int, default=None, help="KITTI: seeded random validation split")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.keras")
    parser.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/unet16")
    return parse_with_recipe(parser, argv)


@exit_codes("training.train")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipe = Recipe.from_args(args)
    fit_run(recipe, run_data(recipe, args.val, args.val_seed), args.out, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
