"""``python -m training.crossval --init-from RUN --data KITTI``: leave-one-out fine-tuning on labelled KITTI frames.

For each frame: start from the given model, fine-tune on all the *other* frames for a fixed number of steps (no
checkpoint picked on the held-out frame: that would be training on it), then score the held-out frame at full
resolution through the node's core. Prints each fold and the mean; writes crossval.json and crossval.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ros_road_seg.errors import RoadSegError  # noqa: E402
from training.batches import RoadBatches  # noqa: E402
from training.data import kitti_samples  # noqa: E402
from training.evaluate import evaluate, load_probability_fn  # noqa: E402
from training.train import compile_model, freeze_batch_norm, load_keras_model  # noqa: E402


def fine_tune_fold(
    init_from: Path, train_samples, steps: int, batch_size: int, lr: float, seed: int, out: Path, freeze_bn: bool
):
    keras.utils.set_random_seed(seed)
    model = load_keras_model(init_from)
    if freeze_bn:
        freeze_batch_norm(model)
    outputs = len(model.outputs)
    compile_model(model, "bce_dice", keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.1), outputs)
    input_size = (int(model.input.shape[1]), int(model.input.shape[2]))
    repeated = train_samples * max(1, batch_size * 4 // len(train_samples))  # several augmented views per step
    batches = RoadBatches(
        repeated, "kitti", input_size, batch_size, "full", shuffle=True, seed=seed, outputs=outputs, workers=1
    )
    epochs = max(1, round(steps / len(batches)))
    model.fit(batches, epochs=epochs, verbose=0)
    model.save(out)
    return out


def crossval(
    init_from: Path, data: Path, out: Path, steps: int, batch_size: int, lr: float, seed: int, freeze_bn: bool = True
) -> dict:
    samples = kitti_samples(data)
    if len(samples) < 2:
        raise RoadSegError(f"leave-one-out needs at least 2 labelled frames in '{data}', found {len(samples)}")
    out.mkdir(parents=True, exist_ok=True)
    baseline_fn, size, _ = load_probability_fn(init_from)
    folds = []
    for index, held_out in enumerate(samples):
        started = time.monotonic()
        train_samples = [s for s in samples if s.name != held_out.name]
        assert held_out.name not in {s.name for s in train_samples}
        fold_path = out / f"fold{index}_{held_out.name}.keras"
        model_path = fine_tune_fold(init_from, train_samples, steps, batch_size, lr, seed + index, fold_path, freeze_bn)
        tuned_fn, _, _ = load_probability_fn(model_path)
        tuned = evaluate(tuned_fn, size, [held_out], "kitti")["per_image"][0]
        before = evaluate(baseline_fn, size, [held_out], "kitti")["per_image"][0]
        folds.append(
            {
                "held_out": held_out.name,
                "trained_on": [s.name for s in train_samples],
                "iou_before": before["iou_full"],
                "iou_after": tuned["iou_full"],
                "seconds": time.monotonic() - started,
            }
        )
        print(
            f"fold {index + 1}/{len(samples)}: held out {held_out.name}: road IoU {before['iou_full']:.4f} -> "
            f"{tuned['iou_full']:.4f} ({folds[-1]['seconds']:.0f} s)",
            flush=True,
        )
        model_path.unlink()  # fold models are scaffolding, not deliverables
    report = {
        "freeze_batchnorm": freeze_bn,
        "init_from": str(init_from),
        "data": str(data),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "folds": folds,
        "mean_iou_before": float(np.mean([f["iou_before"] for f in folds])),
        "mean_iou_after": float(np.mean([f["iou_after"] for f in folds])),
    }
    (out / "crossval.json").write_text(json.dumps(report, indent=2))
    lines = ["| held-out frame | IoU before fine-tuning | IoU after (trained on the other frames) |", "|---|---|---|"]
    lines += [f"| {f['held_out']} | {f['iou_before']:.4f} | {f['iou_after']:.4f} |" for f in folds]
    lines.append(f"| **mean** | **{report['mean_iou_before']:.4f}** | **{report['mean_iou_after']:.4f}** |")
    (out / "crossval.md").write_text("\n".join(lines) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__)
    parser.add_argument("--init-from", type=Path, required=True, help="run folder or .keras to fine-tune")
    parser.add_argument("--data", type=Path, required=True, help="KITTI semantics folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=100, help="gradient steps per fold")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-batchnorm", action="store_true", help="update BatchNorm too (default: frozen)")
    args = parser.parse_args(argv)
    try:
        report = crossval(
            args.init_from,
            args.data,
            args.out,
            args.steps,
            args.batch_size,
            args.lr,
            args.seed,
            freeze_bn=not args.train_batchnorm,
        )
    except (RoadSegError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"leave-one-out mean road IoU: {report['mean_iou_before']:.4f} before, {report['mean_iou_after']:.4f} "
        f"after fine-tuning ({len(report['folds'])} folds)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
