"""``python -m training.crossval``: block k-fold cross-validation of a training recipe.

KITTI: ``--folds K`` blocks of consecutive frame numbers; ``--gap G`` also leaves the G frames on each side of a block
out of that fold's training. CamVid: one fold per sequence prefix. Each fold trains the whole recipe on the other
frames and scores the held-out frames at full resolution through the node's core (``training.kfold`` says how).
Fold folders are kept: run the same command again after an interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.errors import UsageError, exit_codes
from training.kfold import crossval, interpolated, interpolated_markdown, markdown, rescore
from training.recipe import Recipe, add_recipe_arguments, parse_with_recipe


@exit_codes("training.crossval")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__)
    add_recipe_arguments(parser)
    parser.add_argument("--folds", type=int, default=4, help="KITTI: number of consecutive blocks")
    parser.add_argument("--gap", type=int, default=0, help="KITTI: frames on each side of a block left out too")
    parser.add_argument("--only-fold", type=int, nargs="+", default=None, help="run these folds (1-based) only")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--rescore-at",
        type=int,
        nargs=2,
        default=None,
        metavar=("HEIGHT", "WIDTH"),
        help="do not train: score the finished folds in --out again at this input size",
    )
    parser.add_argument(
        "--interpolate",
        type=float,
        nargs="+",
        default=None,
        metavar="ALPHA",
        help="do not train: score the finished folds in --out with their weights moved toward their start (WiSE-FT; "
        "0: the start, 1: as trained), per alpha",
    )
    args = parse_with_recipe(parser, argv)
    if args.interpolate:
        report = interpolated(args.out, args.interpolate, args.dataset, args.data)
        print(interpolated_markdown(report))
        return 0
    if args.rescore_at:
        report = rescore(args.out, tuple(args.rescore_at), args.dataset, args.data)
        print(markdown(report))
        return 0
    recipe = Recipe.from_args(args)
    if args.folds < 2 or args.gap < 0 or any(i < 1 or i > args.folds for i in args.only_fold or []):
        raise UsageError(f"--folds {args.folds} must be >= 2, --gap >= 0, --only-fold within 1..{args.folds}")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    try:
        report = crossval(recipe, args.out, args.folds, args.gap, args.only_fold, command)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("finished folds are kept; run the same command again to continue") from None
    summary = report["summary"]
    print(markdown(report))
    print(
        f"{summary['folds']}-fold road IoU (full resolution, pooled per fold): "
        f"{summary['mean_of_fold_pooled_iou']:.4f} ± {summary['sd_of_fold_pooled_iou']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
