"""``python -m training.train``: train U-Net or UNet++ for the road class, on one dataset or several mixed.

A run folder holds config.json, history.csv, curves.png, best.keras, last.keras (last finite epoch, for
``--resume``) and state.json. With validation frames, best.keras is the epoch with the best validation road IoU;
with ``--val 0`` there is nothing to choose on and best.keras is the last epoch (what cross-validation measures).
A NaN loss stops the run without writing a checkpoint of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from ros_road_seg.errors import DatasetError
from training.augment import AUGMENTATIONS
from training.batches import RoadBatches
from training.data import (
    DATASETS,
    KITTI_DEFAULT_VAL_COUNT,
    Sample,
    exclude,
    load_dataset,
    parse_mix,
    training_pool,
)
from training.losses import LOSSES
from training.models import (
    ARCHITECTURES,
    build_model,
    compile_model,
    describe_model,
    freeze_batch_norm,
    load_keras_model,
    with_input_size,
)


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """What a training recipe is: data, model, schedule, augmentation. Shared by ``train`` and ``crossval``."""
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--data", type=Path, required=True, help="KITTI data_semantics[/training] or CamVid root")
    parser.add_argument(
        "--mix",
        type=parse_mix,
        action="append",
        default=[],
        metavar="DATASET:PATH:SHARE",
        help="mix another dataset into every epoch, e.g. camvid:../shared/data/camvid:0.5 (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="each --dataset frame appears this often per epoch")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="never train or validate on frames whose name matches (shell pattern, e.g. '00000[0-4]_10')",
    )
    parser.add_argument("--model", choices=ARCHITECTURES, default="unet")
    parser.add_argument("--base-filters", type=int, default=16, help="width: 64 = the course's U-Net")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("HEIGHT", "WIDTH"),
        help="default 224 224, or the --init-from model's own size; another size re-uses its weights",
    )
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", choices=LOSSES, default="bce_dice")
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="full")
    parser.add_argument(
        "--look-alike-weight",
        type=float,
        default=1.0,
        help="loss weight of sidewalk/parking/rail/pavement pixels (1 = like any other pixel)",
    )
    parser.add_argument("--deep-supervision", action="store_true", help="unetpp: heads on X(0,1..depth)")
    parser.add_argument("--no-batch-norm", action="store_true", help="the course's plain conv stack")
    parser.add_argument("--course-head", action="store_true", help="unet: the course's 2-filter conv before the head")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-schedule", choices=("cosine", "plateau", "none"), default="cosine")
    parser.add_argument("--init-from", type=Path, default=None, help="run folder or .keras to fine-tune from")
    parser.add_argument(
        "--freeze-batchnorm", action="store_true", help="with --init-from: keep BatchNorm statistics (few frames)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bar (logs one line per epoch)")


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
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE", help="0 = off")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.keras")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default")
    parser.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/unet16")
    return parser.parse_args(argv)


@dataclass
class RunData:
    """The frames of one run: what it trains on (primary + mixed-in pools) and validates on, and what it excluded."""

    train: list[Sample]
    val: list[Sample]
    mix: list[tuple[list[Sample], float]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def run_data(args: argparse.Namespace) -> RunData:
    """Training and validation frames from ``--dataset/--data/--val``, ``--mix`` pools, less ``--exclude``."""
    if args.val == 0:
        train_samples, val_samples = (training_pool(args.dataset, args.data), [])
    else:
        train_samples, val_samples = load_dataset(
            args.dataset, args.data, args.val if args.val < 1 else int(args.val), args.val_seed
        )
    return mixed_run_data(args, train_samples, val_samples)


def mixed_run_data(args: argparse.Namespace, train_samples: list[Sample], val_samples: list[Sample]) -> RunData:
    """Add the ``--mix`` pools and apply ``--exclude`` everywhere (a fold's frames come from crossval)."""
    train_samples, dropped = exclude(train_samples, args.exclude)
    val_samples, dropped_val = exclude(val_samples, args.exclude)
    mix = []
    for source in args.mix:
        pool, dropped_mix = exclude(training_pool(source.dataset, source.path), args.exclude)
        if not pool:
            raise DatasetError(f"--mix {source.dataset}:{source.path}: no frames left after --exclude")
        mix.append((pool, source.share))
        dropped += dropped_mix
    if not train_samples:
        raise DatasetError(f"no {args.dataset} training frames left in '{args.data}' after --exclude {args.exclude}")
    return RunData(train_samples, val_samples, mix, sorted(s.name for s in dropped + dropped_val))


def initial_model(args: argparse.Namespace, checkpoint: Path | None = None) -> keras.Model:
    """The model to train: a checkpoint to resume, a model to fine-tune (resized if asked), or a new build."""
    if checkpoint is not None:
        return keras.saving.load_model(checkpoint, compile=False)
    if args.init_from is not None:
        model = load_keras_model(args.init_from)
        if args.input_size is not None:
            model = with_input_size(model, tuple(args.input_size))
        if args.freeze_batchnorm:
            freeze_batch_norm(model)
        return model
    return build_model(
        args.model,
        (*(args.input_size or (224, 224)), 3),
        args.base_filters,
        args.depth,
        args.deep_supervision,
        batch_norm=not args.no_batch_norm,
        course_head=args.course_head,
    )


def monitored_metric(model: keras.Model, validating: bool = True) -> str:
    """The metric that picks the best checkpoint (the last head's IoU under deep supervision); training IoU when
    there is no validation set, only for the log."""
    prefix = "val_" if validating else ""
    if len(model.outputs) > 1:
        return f"{prefix}{model.output_names[-1]}_road_iou"
    return f"{prefix}road_iou"


def save_atomically(model: keras.Model, path: Path) -> None:
    """Write next to ``path`` and rename: a Ctrl-C mid-save leaves the previous checkpoint, never half a file."""
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)
    os.replace(partial, path)


class SafeCheckpoint(keras.callbacks.Callback):
    """Saves last.keras every finite epoch and best.keras when the monitored IoU improves (every epoch when
    ``keep_last``: no validation set, the recipe's last epoch is the model); never a NaN model."""

    def __init__(self, out: Path, monitor: str, best: float = -math.inf, keep_last: bool = False) -> None:
        super().__init__()
        self.out, self.monitor, self.best, self.keep_last = out, monitor, best, keep_last
        self.nan_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        if not all(math.isfinite(float(v)) for k, v in logs.items() if "loss" in k):
            self.nan_epoch = epoch + 1
            self.model.stop_training = True
            return
        save_atomically(self.model, self.out / "last.keras")
        value = float(logs.get(self.monitor, -math.inf))
        if self.keep_last or value > self.best:
            self.best = value
            save_atomically(self.model, self.out / "best.keras")
        (self.out / "state.json").write_text(
            json.dumps(
                {"epochs_done": epoch + 1, "best": self.best, "monitor": self.monitor, "keep_last": self.keep_last}
            )
        )


def plot_curves(history_csv: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with history_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    figure, (loss_axis, iou_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key in rows[0]:
        axis = loss_axis if key.endswith("loss") and key.count("_") <= 1 else None
        axis = iou_axis if key.endswith("road_iou") else axis
        if axis is not None:  # CSVLogger writes 'NA' where an epoch lacks a key
            axis.plot(epochs, [float(r[key]) if r[key] != "NA" else math.nan for r in rows], label=key)
    loss_axis.set(xlabel="epoch", title="loss")
    iou_axis.set(xlabel="epoch", title="road IoU (model input size, thr 0.5)")
    loss_axis.legend()
    iou_axis.legend()
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def learning_rate(args: argparse.Namespace, steps_per_epoch: int):
    """Adam's learning rate: cosine decay over the whole run (to 5 %), or constant (``plateau`` lowers it)."""
    if args.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(args.lr, max(1, steps_per_epoch * args.epochs), alpha=0.05)
    return args.lr


def run_config(args: argparse.Namespace, model: keras.Model, data: RunData, input_size) -> dict:
    """config.json: the recipe as given, what the model is (read from it), and every frame name it saw."""
    config = {key: _jsonable(value) for key, value in vars(args).items()}
    config.update(describe_model(model))  # from the model itself: right for --init-from and --resume too
    config.update(
        params=int(model.count_params()),
        train_frames=len(data.train),
        val_frames=len(data.val),
        input_size=list(input_size),
        outputs=len(model.outputs),
        train_names=[s.name for s in data.train],
        val_names=[s.name for s in data.val],
        mix_frames={pool[0].dataset: len(pool) for pool, _ in data.mix},
        excluded_names=data.excluded,
        selection="best validation epoch" if data.val else "last epoch (no validation frames)",
    )
    return config


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(v) for k, v in vars(value).items()}
    return value


def fit_run(args: argparse.Namespace, data: RunData, out: Path, resume: bool = False) -> tuple[int, Path]:
    """Train one run into ``out``: build (or load) -> data -> compile -> fit. Returns (exit code, best.keras)."""
    keras.utils.set_random_seed(args.seed)
    out.mkdir(parents=True, exist_ok=True)
    initial_epoch, best = 0, -math.inf
    if resume:
        state = json.loads((out / "state.json").read_text()) if (out / "state.json").is_file() else None
        if state is None or not (out / "last.keras").is_file():
            raise FileNotFoundError(f"--resume: no last.keras/state.json in '{out}'")
        initial_epoch, best = int(state["epochs_done"]), float(state["best"])

    with _strategy_scope(getattr(args, "strategy", "default")):
        model = initial_model(args, out / "last.keras" if resume else None)
        input_size = tuple(model.input.shape[1:3])
        outputs = len(model.outputs)
        train_batches = RoadBatches(
            data.train,
            input_size,
            args.batch_size,
            args.augment,
            shuffle=True,
            seed=args.seed,
            outputs=outputs,
            workers=args.workers,
            mix=data.mix,
            repeat=args.repeat,
            look_alike_weight=args.look_alike_weight,
        )
        compile_model(model, args.loss, learning_rate(args, len(train_batches)), outputs)
    val_batches = (
        RoadBatches(data.val, input_size, args.batch_size, "none", outputs=outputs, workers=args.workers)
        if data.val
        else None
    )
    config = run_config(args, model, data, input_size)
    (out / "config.json").write_text(json.dumps(config, indent=2))

    monitor = monitored_metric(model, validating=val_batches is not None)
    checkpoint = SafeCheckpoint(out, monitor, best, keep_last=val_batches is None)
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume), checkpoint]
    if args.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=3))
    if getattr(args, "early_stopping", 0):
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=args.early_stopping))
    mixed = "".join(f" + {len(pool)} {pool[0].dataset} frames ({share:.0%} of each epoch)" for pool, share in data.mix)
    print(
        f"training {config['architecture']} ({config['params']:,} params) on {len(data.train)} {args.dataset} "
        f"frames{mixed}, {len(train_batches)} batches per epoch, validating on {len(data.val)}; input "
        f"{input_size[1]}x{input_size[0]}; run folder '{out}'",
        flush=True,
    )
    started = time.monotonic()
    try:
        model.fit(
            train_batches,
            validation_data=val_batches,
            epochs=args.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=2 if args.quiet else 1,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the last finished epoch is in '{out / 'last.keras'}'; continue with --resume",
            file=sys.stderr,
        )
        return 130, out / "best.keras"
    if checkpoint.nan_epoch is not None:
        print(
            f"error: the loss became NaN in epoch {checkpoint.nan_epoch}; training stopped and no checkpoint of "
            f"that epoch was written (lower --lr?). Last good model: '{out / 'last.keras'}'",
            file=sys.stderr,
        )
        return 1, out / "best.keras"
    if train_batches.frames_without_road:
        print(f"note: {train_batches.frames_without_road} training frames have no road pixels (kept as negatives)")
    plot_curves(out / "history.csv", out / "curves.png")
    chosen = f"best {monitor} {checkpoint.best:.4f}" if val_batches is not None else "last epoch kept"
    print(f"done in {time.monotonic() - started:.0f} s; {chosen} -> '{out / 'best.keras'}'", flush=True)
    return 0, out / "best.keras"


def _strategy_scope(name: str):
    import contextlib

    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    return contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        code, _ = fit_run(args, run_data(args), args.out, resume=args.resume)
        return code
    except (DatasetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
