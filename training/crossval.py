"""``python -m training.crossval``: block k-fold cross-validation of a training recipe.

KITTI: ``--folds K`` blocks of consecutive frame numbers (neighbouring frames share a drive, so a shuffled split
would score near-copies of training frames); ``--gap G`` also leaves the G frames on each side of a block out of that
fold's training. CamVid: one fold per sequence prefix. Each fold trains the *whole recipe* (the same arguments as
``training.train``, mixed-in datasets included) on the other frames for a fixed number of epochs, keeps the last
epoch (no checkpoint is ever picked on held-out frames), and scores the held-out frames at full resolution through
the node's core. Reports per-fold pooled and mean road IoU, mean ± sd over folds, the pooled IoU over every held-out
frame, and the pooled IoU at other thresholds (a test-time choice made on held-out frames only).

Fold folders are kept (``fold1/best.keras`` ...); a fold whose ``fold.json`` exists is not trained again and a fold
with a ``last.keras`` continues from its last finished epoch, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ros_road_seg.errors import RoadSegError
from ros_road_seg.metrics import intersection_union
from ros_road_seg.model import DEFAULT_THRESHOLD
from ros_road_seg.segmenter import resize_probability
from training.data import Fold, block_folds, camvid_samples, kitti_samples, load_sample, sequence_folds
from training.evaluate import evaluate, load_probability_fn
from training.train import add_recipe_arguments, fit_run, mixed_run_data

SWEEP_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def make_folds(dataset: str, data: Path, folds: int, gap: int) -> list[Fold]:
    """KITTI: consecutive blocks; CamVid: whole sequences (train/ and val/ frames together)."""
    if dataset == "kitti":
        return block_folds(kitti_samples(data), folds, gap)
    return sequence_folds(camvid_samples(data, "train") + camvid_samples(data, "val"))


def threshold_sweep(probability_fn, samples, thresholds=SWEEP_THRESHOLDS) -> dict[str, list[int]]:
    """Full-resolution (intersection, union) per threshold, summed over ``samples``."""
    totals = {f"{t:g}": [0, 0] for t in thresholds}
    for sample in samples:
        loaded = load_sample(sample)
        probability = resize_probability(probability_fn(loaded.rgb), loaded.road.shape)
        for t in thresholds:
            intersection, union = intersection_union(probability > t, loaded.road, loaded.valid)
            totals[f"{t:g}"][0] += intersection
            totals[f"{t:g}"][1] += union
    return totals


def run_fold(args: argparse.Namespace, index: int, fold: Fold, out: Path) -> dict:
    """Train the recipe without the fold's frames, then score them."""
    result_path = out / "fold.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    started = time.monotonic()
    held = {s.name for s in fold.held_out} | {s.name for s in fold.buffer}
    data = mixed_run_data(args, fold.train, [])
    leaked = held & {s.name for s in data.train}
    if leaked:  # never: the splitter guarantees it; checked because a leak would make every figure meaningless
        raise RoadSegError(f"fold {fold.name}: held-out frames {sorted(leaked)} are in its training set")
    args.seed = args.base_seed + index
    resume = (out / "state.json").is_file() and (out / "last.keras").is_file()  # an interrupted fold continues
    if resume:
        print(f"fold {fold.name}: continuing from '{out / 'last.keras'}'", flush=True)
    code, model_path = fit_run(args, data, out, resume=resume)
    if code != 0:
        raise RoadSegError(f"fold {fold.name}: training failed with exit code {code}")
    probability_fn, size, description = load_probability_fn(model_path)
    scored = evaluate(probability_fn, size, fold.held_out, DEFAULT_THRESHOLD)
    heads = {}
    for head in range(description["outputs"] - 1):  # deep supervision: the pruned UNet++ L1.. as well
        head_fn, _, _ = load_probability_fn(model_path, head=head)
        heads[f"L{head + 1}"] = evaluate(head_fn, size, fold.held_out, DEFAULT_THRESHOLD)["pooled_iou_full"]
    result = {
        "fold": fold.name,
        "held_out": [s.name for s in fold.held_out],
        "buffer": [s.name for s in fold.buffer],
        "trained_on": [s.name for s in data.train],
        "mixed_in": {pool[0].dataset: len(pool) for pool, _ in data.mix},
        "pooled_iou": scored["pooled_iou_full"],
        "mean_iou": scored["mean_iou_full"],
        "per_image": scored["per_image"],
        "sweep": threshold_sweep(probability_fn, fold.held_out),
        "pruned_heads_pooled_iou": heads,
        "seconds": time.monotonic() - started,
    }
    result_path.write_text(json.dumps(result, indent=2))
    return result


def summarize(folds: list[dict]) -> dict:
    pooled = [f["pooled_iou"] for f in folds]
    sweep = {}
    for threshold in folds[0]["sweep"]:
        intersection = sum(f["sweep"][threshold][0] for f in folds)
        union = sum(f["sweep"][threshold][1] for f in folds)
        sweep[threshold] = intersection / union if union else 1.0
    heads = sorted({head for f in folds for head in f.get("pruned_heads_pooled_iou", {})})
    all_images = [row for f in folds for row in f["per_image"]]
    union = sum(r["union"] for r in all_images)
    return {
        "folds": len(folds),
        "mean_of_fold_pooled_iou": float(np.mean(pooled)),
        "sd_of_fold_pooled_iou": float(np.std(pooled, ddof=1)) if len(pooled) > 1 else 0.0,
        "pooled_iou_all_held_out": sum(r["intersection"] for r in all_images) / union if union else 1.0,
        "mean_iou_all_held_out": float(np.mean([r["iou_full"] for r in all_images])),
        "pooled_iou_by_threshold": sweep,
        "pruned_heads_mean_of_fold_pooled_iou": {
            head: float(np.mean([f["pruned_heads_pooled_iou"][head] for f in folds])) for head in heads
        },
    }


def markdown(report: dict) -> str:
    summary = report["summary"]
    lines = [
        f"Recipe: `{report['recipe']}`",
        "",
        "| fold (held-out frames) | frames | trained on | buffer left out | pooled IoU | mean IoU |",
        "|---|---|---|---|---|---|",
    ]
    for fold in report["folds"]:
        mixed = "".join(f" + {n} {d}" for d, n in fold["mixed_in"].items())
        lines.append(
            f"| {fold['fold']} | {len(fold['held_out'])} | {len(fold['trained_on'])}{mixed} | {len(fold['buffer'])} "
            f"| {fold['pooled_iou']:.4f} | {fold['mean_iou']:.4f} |"
        )
    lines += [
        f"| **mean ± sd over folds** | | | | **{summary['mean_of_fold_pooled_iou']:.4f} ± "
        f"{summary['sd_of_fold_pooled_iou']:.4f}** | |",
        f"| all held-out frames | | | | {summary['pooled_iou_all_held_out']:.4f} | "
        f"{summary['mean_iou_all_held_out']:.4f} |",
        "",
        "Pooled IoU over all held-out frames by threshold: "
        + ", ".join(f"{t}: {v:.4f}" for t, v in summary["pooled_iou_by_threshold"].items()),
    ]
    if summary["pruned_heads_mean_of_fold_pooled_iou"]:
        lines += [
            "",
            "Pruned UNet++ heads, mean over folds of the pooled IoU: "
            + ", ".join(f"{h}: {v:.4f}" for h, v in summary["pruned_heads_mean_of_fold_pooled_iou"].items()),
        ]
    return "\n".join(lines) + "\n"


def crossval(args: argparse.Namespace, recipe: str = "") -> dict:
    folds = make_folds(args.dataset, args.data, args.folds, args.gap)
    if args.only_fold:
        folds = [folds[i - 1] for i in args.only_fold]
    args.out.mkdir(parents=True, exist_ok=True)
    args.base_seed = args.seed
    results = []
    for index, fold in enumerate(folds):
        print(f"fold {index + 1}/{len(folds)}: holding out {fold.name} ({len(fold.held_out)} frames)", flush=True)
        result = run_fold(args, index, fold, args.out / f"fold{index + 1}")
        results.append(result)
        print(
            f"fold {index + 1}/{len(folds)} {fold.name}: pooled road IoU {result['pooled_iou']:.4f}, "
            f"mean {result['mean_iou']:.4f} ({result['seconds']:.0f} s)",
            flush=True,
        )
    report = {"recipe": recipe, "folds": results, "summary": summarize(results)}
    (args.out / "crossval.json").write_text(json.dumps(report, indent=2))
    (args.out / "crossval.md").write_text(markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__)
    add_recipe_arguments(parser)
    parser.add_argument("--folds", type=int, default=4, help="KITTI: number of consecutive blocks")
    parser.add_argument("--gap", type=int, default=0, help="KITTI: frames on each side of a block left out too")
    parser.add_argument("--only-fold", type=int, nargs="+", default=None, help="run these folds (1-based) only")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        report = crossval(args, " ".join(argv if argv is not None else sys.argv[1:]))
    except (RoadSegError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = report["summary"]
    print(markdown(report))
    print(
        f"{summary['folds']}-fold road IoU (full resolution, pooled per fold): "
        f"{summary['mean_of_fold_pooled_iou']:.4f} ± {summary['sd_of_fold_pooled_iou']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
