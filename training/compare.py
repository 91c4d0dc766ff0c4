"""``python -m training.compare RUN_A RUN_B``: U-Net vs UNet++ side by side (the course's Step 3, done properly).

For each run: mean and per-image road IoU (full resolution, through the node's core), parameters, GMACs and CPU
ms/frame of its ONNX export; plus a grid PNG: input | ground truth | A overlay | B overlay.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import exit_codes
from ros_road_seg.core.segmenter import Segmenter, blend_overlay
from ros_road_seg.core.stats import summarize_ms, time_calls
from training.data import DATASETS, load_sample
from training.evaluation import evaluate, select_samples


def onnx_of(run: Path) -> Path:
    """The run's ONNX export (run/model.onnx), exported now if missing; an .onnx path is used as it is."""
    if run.suffix == ".onnx":
        return run
    path = run / "model.onnx"
    if not path.is_file():
        from training.onnx_export import export

        export(run, path)
    return path


def cpu_ms_per_frame(segmenter: Segmenter, frames: list[np.ndarray], repeats: int = 3) -> float:
    """p50 of the core end to end (frame in, mask + overlay out) on these frames, timed as the benchmark does."""
    return summarize_ms(time_calls(segmenter.segment, frames, repeats * len(frames), warmup=2))["p50_ms"]


def label_of(path: Path) -> str:
    return path.parent.name if path.name == "model.onnx" else path.stem


def crossval_summary(folder: Path) -> dict:
    """The k-fold figures ``training.crossval`` wrote for a recipe: mean ± sd over folds and each fold's IoU."""
    report = json.loads((Path(folder) / "crossval.json").read_text())
    return {
        "folder": str(folder),
        "mean": report["summary"]["mean_of_fold_pooled_iou"],
        "sd": report["summary"]["sd_of_fold_pooled_iou"],
        "folds": {fold["fold"]: fold["pooled_iou"] for fold in report["folds"]},
        "pruned_heads": report["summary"].get("pruned_heads_mean_of_fold_pooled_iou", {}),
    }


def compare(
    runs: list[Path],
    dataset: str,
    data: Path,
    split: str,
    out: Path,
    grid_count: int = 4,
    title: str = "",
    crossvals: list[Path] | None = None,
    name: str | None = None,
) -> dict:
    """Score each run's ONNX export on the same frames (and, with ``crossvals``, put each recipe's k-fold figures
    beside it, in the same order as ``runs``)."""
    if crossvals and len(crossvals) != len(runs):
        raise ValueError(f"--crossval needs one folder per run ({len(runs)}), got {len(crossvals)}")
    samples = select_samples(dataset, data, split)
    frames = [load_sample(s).rgb for s in samples[:5]]  # the latency frames, the same for every run
    rows = []
    segmenters = []
    for index, run in enumerate(runs):
        onnx_path = onnx_of(run)
        segmenter = Segmenter(onnx_path, providers="cpu")
        result = evaluate(segmenter.probability, segmenter.input_size, samples, segmenter.threshold)
        meta = segmenter.info.metadata
        rows.append(
            {
                "run": str(run),
                "label": label_of(onnx_path),
                "architecture": meta.get("road_seg.architecture", "?"),
                "base_filters": meta.get("road_seg.base_filters", "?"),
                "params": int(meta.get("road_seg.params", 0)),
                "gmacs": float(meta.get("road_seg.gmacs", "nan")),
                "cpu_ms_per_frame": cpu_ms_per_frame(segmenter, frames),
                **result,
            }
        )
        if crossvals:
            rows[-1]["crossval"] = crossval_summary(crossvals[index])
        segmenters.append(segmenter)
    out.mkdir(parents=True, exist_ok=True)
    stem = name or f"compare_{dataset}_{split}"
    grid_path = out / f"{stem}.png"
    write_grid(segmenters, samples[:grid_count], dataset, grid_path, [r["label"] for r in rows])
    report = {"dataset": dataset, "split": split, "frames": len(samples), "runs": rows, "grid": grid_path.name}
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (out / f"{stem}.md").write_text(markdown(report, title or f"{dataset} {split}"))
    return report


def markdown(report: dict, title: str) -> str:
    rows = report["runs"]
    lines = [
        f"## {title} ({report['frames']} frames)",
        "",
        "| model | arch | width | params | GMACs | CPU ms/frame (core, full frame) | pooled IoU full res | "
        "mean IoU full res | mean IoU at model input size | ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['architecture']} | {r['base_filters']} | {r['params']:,} | "
            f"{r['gmacs']:.2f} | {r['cpu_ms_per_frame']:.1f} | **{r['pooled_iou_full']:.4f}** | "
            f"{r['mean_iou_full']:.4f} | {r['mean_iou_model_size']:.4f} | {r['mean_ceiling']:.4f} |"
        )
    if all("crossval" in r for r in rows):
        folds = list(rows[0]["crossval"]["folds"])
        lines += [
            "",
            "Block k-fold of each recipe (`training.crossval`, pooled road IoU per held-out block, full resolution):",
            "",
            "| model | mean ± sd over folds | " + " | ".join(folds) + " | pruned heads (mean over folds) |",
            "|---|---|" + "---|" * len(folds) + "---|",
        ]
        for r in rows:
            cv = r["crossval"]
            heads = ", ".join(f"{h} {v:.4f}" for h, v in cv["pruned_heads"].items()) or "—"
            lines.append(
                f"| {r['label']} | **{cv['mean']:.4f} ± {cv['sd']:.4f}** | "
                + " | ".join(f"{cv['folds'].get(f, float('nan')):.4f}" for f in folds)
                + f" | {heads} |"
            )
    lines += ["", "| image | " + " | ".join(r["label"] for r in rows) + " |", "|---|" + "---|" * len(rows)]
    for index, image in enumerate(rows[0]["per_image"]):
        lines.append(
            f"| {image['name']} | " + " | ".join(f"{r['per_image'][index]['iou_full']:.4f}" for r in rows) + " |"
        )
    lines += ["", f"![grid]({report['grid']})", ""]
    return "\n".join(lines)


def write_grid(
    segmenters: list[Segmenter], samples, dataset: str, path: Path, labels: list[str], tile_width: int = 400
) -> None:
    """Rows of input | ground truth | one overlay per model, captioned, as one PNG."""
    rows = []
    for sample in samples:
        loaded = load_sample(sample)
        rgb = loaded.rgb
        truth = blend_overlay(rgb, (loaded.road * 255).astype(np.uint8), 0.5, (0, 255, 0))
        tiles = [rgb, truth] + [seg.segment(rgb).overlay.copy() for seg in segmenters]
        captions = ["input", "ground truth"] + labels
        height = int(round(rgb.shape[0] * tile_width / rgb.shape[1]))
        resized = []
        for tile, caption in zip(tiles, captions, strict=True):
            small = cv2.resize(tile, (tile_width, height), interpolation=cv2.INTER_AREA)
            cv2.putText(small, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2)
            resized.append(small)
        rows.append(np.hstack(resized))
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


@exit_codes("training.compare")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (or .onnx files), usually U-Net then UNet++")
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", choices=("val", "train", "all"), default="val")
    parser.add_argument("--grid", type=int, default=4, help="images in the grid PNG")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report (.md, .json, .png)")
    parser.add_argument(
        "--crossval", type=Path, nargs="+", default=None, help="each run's training.crossval folder (same order)"
    )
    parser.add_argument("--name", default=None, help="file stem of the report (default compare_DATASET_SPLIT)")
    args = parser.parse_args(argv)
    if args.crossval and len(args.crossval) != len(args.runs):
        print(
            f"error: --crossval needs one folder per run ({len(args.runs)}), got {len(args.crossval)}", file=sys.stderr
        )
        return 2
    report = compare(
        args.runs, args.dataset, args.data, args.split, args.out, args.grid, crossvals=args.crossval, name=args.name
    )
    print(markdown(report, f"{args.dataset} {args.split}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
