"""``python -m training.train``: train U-Net or UNet++ for the road class; best checkpoint by validation road IoU.

A run folder holds config.json, history.csv, curves.png, best.keras (best val IoU), last.keras (last finite
epoch, for ``--resume``) and state.json. A NaN loss stops the run without writing a checkpoint of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from ros_road_seg.errors import DatasetError  # noqa: E402
from training.augment import AUGMENTATIONS  # noqa: E402
from training.batches import RoadBatches  # noqa: E402
from training.data import DATASETS, KITTI_DEFAULT_VAL_COUNT, load_dataset  # noqa: E402
from training.losses import LOSSES, RoadIoU, get_loss  # noqa: E402
from training.models import ARCHITECTURES, build_model, describe_model  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--data", type=Path, required=True, help="KITTI data_semantics[/training] or CamVid root")
    parser.add_argument("--model", choices=ARCHITECTURES, default="unet")
    parser.add_argument("--base-filters", type=int, default=16, help="width: 64 = the course's U-Net")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--input-size", type=int, nargs=2, default=[224, 224], metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", choices=LOSSES, default="bce_dice")
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="full")
    parser.add_argument("--deep-supervision", action="store_true", help="unetpp: heads on X(0,1..depth)")
    parser.add_argument("--no-batch-norm", action="store_true", help="the course's plain conv stack")
    parser.add_argument("--course-head", action="store_true", help="unet: the course's 2-filter conv before the head")
    parser.add_argument(
        "--val",
        type=float,
        default=KITTI_DEFAULT_VAL_COUNT,
        help="KITTI validation: count (>= 1, default the last 30 names) or fraction (< 1)",
    )
    parser.add_argument("--val-seed", type=int, default=None, help="KITTI: seeded random validation split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-schedule", choices=("cosine", "plateau", "none"), default="cosine")
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE", help="0 = off")
    parser.add_argument("--init-from", type=Path, default=None, help="run folder or .keras to fine-tune from")
    parser.add_argument(
        "--freeze-batchnorm", action="store_true", help="with --init-from: keep BatchNorm statistics (few frames)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.keras")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/unet16")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (logs one line per epoch)")
    return parser.parse_args(argv)


def resolve_keras_path(path: Path) -> Path:
    """A run folder means its best.keras."""
    candidate = path / "best.keras" if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"no model at '{candidate}'")
    return candidate


def freeze_batch_norm(model: keras.Model) -> None:
    """Fine-tuning on a handful of frames: keep BatchNorm's CamVid statistics (inference mode while training)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def load_keras_model(path: Path) -> keras.Model:
    return keras.saving.load_model(resolve_keras_path(path), compile=False)


def monitored_metric(model: keras.Model) -> str:
    """The validation metric that picks the best checkpoint (the last head's IoU under deep supervision)."""
    if len(model.outputs) > 1:
        return f"val_{model.output_names[-1]}_road_iou"
    return "val_road_iou"


def save_atomically(model: keras.Model, path: Path) -> None:
    """Write next to ``path`` and rename: a Ctrl-C mid-save leaves the previous checkpoint, never half a file."""
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)
    os.replace(partial, path)


class SafeCheckpoint(keras.callbacks.Callback):
    """Saves last.keras every finite epoch and best.keras when the validation IoU improves; never a NaN model."""

    def __init__(self, out: Path, monitor: str, best: float = -math.inf) -> None:
        super().__init__()
        self.out, self.monitor, self.best = out, monitor, best
        self.nan_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        if not all(math.isfinite(float(v)) for k, v in logs.items() if "loss" in k):
            self.nan_epoch = epoch + 1
            self.model.stop_training = True
            return
        save_atomically(self.model, self.out / "last.keras")
        value = float(logs.get(self.monitor, -math.inf))
        if value > self.best:
            self.best = value
            save_atomically(self.model, self.out / "best.keras")
        (self.out / "state.json").write_text(
            json.dumps({"epochs_done": epoch + 1, "best": self.best, "monitor": self.monitor})
        )


def compile_model(model: keras.Model, loss_name: str, lr, outputs: int) -> None:
    loss = get_loss(loss_name)
    if outputs > 1:  # deep supervision: every head gets the loss, averaged; IoU reported on the last head
        model.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss=[loss] * outputs,
            loss_weights=[1.0 / outputs] * outputs,
            metrics=[[] for _ in range(outputs - 1)] + [[RoadIoU()]],
        )
    else:
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=[RoadIoU()])


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
        values = [float(r[key]) for r in rows]
        if key.endswith("loss") and key.count("_") <= 1:
            loss_axis.plot(epochs, values, label=key)
        elif key.endswith("road_iou"):
            iou_axis.plot(epochs, values, label=key)
    loss_axis.set(xlabel="epoch", title="loss")
    iou_axis.set(xlabel="epoch", title="road IoU (224x224, thr 0.5)")
    loss_axis.legend()
    iou_axis.legend()
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def train(args: argparse.Namespace) -> int:
    keras.utils.set_random_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    input_size = tuple(args.input_size)
    train_samples, val_samples = load_dataset(
        args.dataset, args.data, args.val if args.val < 1 else int(args.val), args.val_seed
    )
    initial_epoch, best = 0, -math.inf
    if args.resume:
        state = json.loads((out / "state.json").read_text()) if (out / "state.json").is_file() else None
        if state is None or not (out / "last.keras").is_file():
            raise FileNotFoundError(f"--resume: no last.keras/state.json in '{out}'")
        initial_epoch, best = int(state["epochs_done"]), float(state["best"])
    scope = _strategy_scope(args.strategy)
    with scope:
        if args.resume:
            model = keras.saving.load_model(out / "last.keras", compile=False)
        elif args.init_from is not None:
            model = load_keras_model(args.init_from)
            if args.freeze_batchnorm:
                freeze_batch_norm(model)
        else:
            model = build_model(
                args.model,
                (*input_size, 3),
                args.base_filters,
                args.depth,
                args.deep_supervision,
                batch_norm=not args.no_batch_norm,
                course_head=args.course_head,
            )
        outputs = len(model.outputs)
        steps = math.ceil(len(train_samples) / args.batch_size) * args.epochs
        lr = (
            keras.optimizers.schedules.CosineDecay(args.lr, max(1, steps), alpha=0.05)
            if args.lr_schedule == "cosine"
            else args.lr
        )
        compile_model(model, args.loss, lr, outputs)
    model_input = tuple(model.input.shape[1:3])
    if model_input != input_size:
        input_size = model_input  # a fine-tuned model keeps the input size it was built for
    train_batches = RoadBatches(
        train_samples,
        args.dataset,
        input_size,
        args.batch_size,
        args.augment,
        shuffle=True,
        seed=args.seed,
        outputs=outputs,
        workers=args.workers,
    )
    val_batches = RoadBatches(
        val_samples, args.dataset, input_size, args.batch_size, "none", outputs=outputs, workers=args.workers
    )
    config = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    config.update(describe_model(model))  # from the model itself: right for --init-from and --resume too
    config.update(
        params=int(model.count_params()),
        train_frames=len(train_samples),
        val_frames=len(val_samples),
        input_size=list(input_size),
        outputs=outputs,
        train_names=[s.name for s in train_samples],
        val_names=[s.name for s in val_samples],
    )
    (out / "config.json").write_text(json.dumps(config, indent=2))
    monitor = monitored_metric(model)
    checkpoint = SafeCheckpoint(out, monitor, best)
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=args.resume), checkpoint]
    if args.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=3))
    if args.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=args.early_stopping))
    print(
        f"training {config['architecture']} ({config['params']:,} params) on {len(train_samples)} {args.dataset} "
        f"frames, validating on {len(val_samples)}; input {input_size[1]}x{input_size[0]}; run folder '{out}'"
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
        return 130
    if checkpoint.nan_epoch is not None:
        print(
            f"error: the loss became NaN in epoch {checkpoint.nan_epoch}; training stopped and no checkpoint of "
            f"that epoch was written (lower --lr?). Last good model: '{out / 'last.keras'}'",
            file=sys.stderr,
        )
        return 1
    if train_batches.frames_without_road:
        print(f"note: {train_batches.frames_without_road} training frames have no road pixels (kept as negatives)")
    plot_curves(out / "history.csv", out / "curves.png")
    print(f"done in {time.monotonic() - started:.0f} s; best {monitor} {checkpoint.best:.4f} -> '{out / 'best.keras'}'")
    return 0


def _strategy_scope(name: str):
    import contextlib

    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    return contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args)
    except (DatasetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
