"""Training one run: the frames (:class:`RunData`), the model to start from, compile, fit, checkpoints.

Library code for ``training.train`` and ``training.crossval``: it takes a frozen :class:`~training.recipe.Recipe`,
never a parsed command line. A run folder holds config.json, history.csv, curves.png, best.keras, last.keras (last
finite epoch, for resuming) and state.json.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from ros_road_seg.core.errors import DatasetError, TrainingDivergedError
from training.batches import RoadBatches
from training.data import Sample, exclude, load_dataset, training_pool
from training.encoders import encoder_for_model, encoder_layer_stages
from training.models import (
    build_model,
    compile_model,
    describe_model,
    freeze_batch_norm,
    load_keras_model,
    with_input_size,
)
from training.recipe import Recipe, read_run_config


@dataclass
class RunData:
    """The frames of one run: what it trains on (primary + mixed-in pools) and validates on, and what it excluded."""

    train: list[Sample]
    val: list[Sample]
    mix: list[tuple[list[Sample], float]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def run_data(recipe: Recipe, val: float, val_seed: int | None = None) -> RunData:
    """Training and validation frames of the recipe's dataset (``val``: KITTI count or fraction, 0 = none), the
    ``--mix`` pools, less ``--exclude``."""
    if not val >= 0:
        raise ValueError(f"--val {val} must be >= 0")
    if val == 0:
        train_samples, val_samples = (training_pool(recipe.dataset, recipe.data), [])
    else:
        train_samples, val_samples = load_dataset(recipe.dataset, recipe.data, val if val < 1 else int(val), val_seed)
    return mixed_run_data(recipe, train_samples, val_samples)


def mixed_run_data(recipe: Recipe, train_samples: list[Sample], val_samples: list[Sample]) -> RunData:
    """Add the ``--mix`` pools and apply ``--exclude`` everywhere (a fold's frames come from crossval)."""
    train_samples, dropped = exclude(train_samples, recipe.exclude)
    val_samples, dropped_val = exclude(val_samples, recipe.exclude)
    mix = []
    for source in recipe.mix:
        pool, dropped_mix = exclude(training_pool(source.dataset, source.path), recipe.exclude)
        if not pool:
            raise DatasetError(f"--mix {source.dataset}:{source.path}: no frames left after --exclude")
        mix.append((pool, source.share))
        dropped += dropped_mix
    if not train_samples:
        raise DatasetError(
            f"no {recipe.dataset} training frames left in '{recipe.data}' after --exclude {recipe.exclude}"
        )
    return RunData(train_samples, val_samples, mix, sorted(s.name for s in dropped + dropped_val))


def initial_model(recipe: Recipe, checkpoint: Path | None = None) -> keras.Model:
    """The model to train: a checkpoint to resume, a model to fine-tune (resized if asked), or a new build."""
    if checkpoint is not None:
        return keras.saving.load_model(checkpoint, compile=False)
    if recipe.init_from is not None:
        model = load_keras_model(recipe.init_from)
        if read_run_config(recipe.init_from).get("tiles") and not recipe.tiles:
            print(
                f"warning: --init-from '{recipe.init_from}' was trained on tiles of the aspect-kept frame; without "
                "--tiles this run squashes whole frames into its input",
                file=sys.stderr,
                flush=True,
            )
        if recipe.input_size is not None:
            model = with_input_size(model, tuple(recipe.input_size))
        if recipe.freeze_batchnorm:
            freeze_batch_norm(model)
        return _with_encoder(model, recipe)
    model = build_model(
        recipe.model,
        (*(recipe.input_size or (224, 224)), 3),
        recipe.base_filters,
        recipe.depth,
        recipe.deep_supervision,
        batch_norm=not recipe.no_batch_norm,
        course_head=recipe.course_head,
        pretrained=recipe.pretrained,
    )
    return _with_encoder(model, recipe)


def _with_encoder(model: keras.Model, recipe: Recipe) -> keras.Model:
    """``--encoder-from``: the encoder's weights from a (fine-tuned) network that shares its layers."""
    if recipe.encoder_from is not None:
        copied = copy_encoder_weights(load_keras_model(recipe.encoder_from), model)
        print(f"encoder: {copied} layers' weights from '{recipe.encoder_from}'", flush=True)
    return model


def _encoder_prefix(model: keras.Model) -> str:
    """The layer-name prefix of the registered pretrained encoder in ``model`` (training.encoders)."""
    encoder = encoder_for_model(model)
    if encoder is None:
        raise ValueError(f"model '{model.name}' has no pretrained encoder (training.encoders.PRETRAINED_ENCODERS)")
    return encoder.prefix


def copy_encoder_weights(source: keras.Model, target: keras.Model) -> int:
    """Weights of every encoder layer of ``source`` into the same-named layer of ``target`` (a fine-tuned Intel
    network's encoder into a U-Net built on the same encoder); a shape mismatch is an error, not a skip."""
    prefix = _encoder_prefix(target)
    source_layers = {layer.name: layer for layer in source.layers if layer.name.startswith(prefix)}
    copied = 0
    for layer in target.layers:
        if layer.name in source_layers and layer.weights:
            weights = source_layers[layer.name].get_weights()
            if [w.shape for w in weights] != [w.shape for w in layer.get_weights()]:
                raise ValueError(f"encoder layer '{layer.name}' differs in shape between the two models")
            layer.set_weights(weights)
            copied += 1
    if copied == 0:
        raise ValueError(f"no '{prefix}*' layer with weights is shared by '{source.name}' and '{target.name}'")
    return copied


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


TRAINING_STATE = "last_state.npz"  # what .keras does not keep: Adam's step and moments, the dropout seeds


def _seed_states(model: keras.Model) -> list:
    """The random-seed state variables of the model's dropout layers (not weights, so .keras leaves them out)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def save_training_state(model: keras.Model, path: Path) -> None:
    """Every optimizer variable (iteration, learning rate, moments) and every seed state, in order, atomically."""
    import numpy as np

    optimizer = getattr(model, "optimizer", None)  # None: a model that was never compiled (nothing to continue)
    arrays = {f"optimizer_{i}": v.numpy() for i, v in enumerate(optimizer.variables if optimizer else [])}
    arrays.update({f"seed_{i}": v.numpy() for i, v in enumerate(_seed_states(model))})
    partial = path.with_name(f".{path.stem}.partial.npz")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)
    os.replace(partial, path)


def restore_training_state(model: keras.Model, path: Path) -> None:
    """Put a saved state back into ``model`` and its freshly compiled optimizer, so the cosine schedule, the moments
    and the dropout masks continue where the interrupted run stopped instead of restarting."""
    import numpy as np

    model.optimizer.build(model.trainable_variables)
    with np.load(path) as saved:
        for prefix, variables in (("optimizer", model.optimizer.variables), ("seed", _seed_states(model))):
            values = [saved[f"{prefix}_{i}"] for i in range(sum(k.startswith(prefix) for k in saved.files))]
            shapes_fit = all(v.shape == tuple(w.shape) for v, w in zip(values, variables, strict=False))
            if len(values) != len(variables) or not shapes_fit:
                raise DatasetError(
                    f"'{path}' holds {len(values)} {prefix} variables that do not fit this model's {len(variables)}; "
                    "was the run folder reused for another recipe?"
                )
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)


class PullToStart(keras.callbacks.Callback):
    """L2-SP, decoupled: after every step each pretrained encoder weight moves ``strength`` of the way back to its
    starting value, so fine-tuning on a few KITTI frames keeps what the pretrained network knew (Li et al., "Explicit
    inductive bias for transfer learning", 2018; applied outside the gradient like AdamW's decay)."""

    def __init__(self, start: dict[str, list], strength: float) -> None:
        super().__init__()
        self.start, self.strength = start, strength

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        for layer in self.model.layers:
            reference = self.start.get(layer.name)
            if reference is None:
                continue
            for variable, value in zip(layer.trainable_weights, reference, strict=False):
                variable.assign(variable - self.strength * (variable - value))


def pretrained_weights(model: keras.Model) -> dict[str, list]:
    """The starting weights that L2-SP pulls back to, by layer name: the registered pretrained encoder's trainable
    layers, or every trainable layer of a model without one (a fine-tuned start as a whole, e.g. training.adapt)."""
    encoder = encoder_for_model(model)
    return {
        layer.name: [w.numpy().copy() for w in layer.trainable_weights]
        for layer in model.layers
        if (encoder is None or layer.name.startswith(encoder.prefix)) and layer.trainable_weights
    }


def freeze_encoder_stages(model: keras.Model, stages: int) -> int:
    """Freeze every pretrained encoder layer up to the end of its ``stages``-th stage (1: 1/2 of the input, 2: 1/4,
    3: 1/8); returns how many layers were frozen."""
    if stages == 0:
        return 0
    _, layer_stages = encoder_layer_stages(model, f"--freeze-stages {stages}", stages)
    frozen = 0
    for layer in model.layers:
        if layer.name in layer_stages and layer.weights:
            layer.trainable = False
            frozen += 1
    return frozen


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
        save_training_state(self.model, self.out / TRAINING_STATE)
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


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """Adam's learning rate: cosine decay over the whole run (to 5 %), or constant (``plateau`` lowers it)."""
    if recipe.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.lr, max(1, steps_per_epoch * recipe.epochs), alpha=0.05)
    return recipe.lr


def _pool_name(source) -> str:
    """A mixed-in pool's name in config.json: its dataset, and for soft labels which folder (two soft pools differ)."""
    return f"{source.dataset}:{Path(source.path).name}" if source.dataset == "soft" else source.dataset


def run_config(recipe: Recipe, model: keras.Model, data: RunData, input_size) -> dict:
    """config.json: the recipe as given, what the model is (read from it), and every frame name it saw."""
    config = recipe.as_json()
    config.update(describe_model(model))  # from the model itself: right for --init-from and --resume too
    config.update(
        params=int(model.count_params()),
        train_frames=len(data.train),
        val_frames=len(data.val),
        input_size=list(input_size),
        outputs=len(model.outputs),
        train_names=[s.name for s in data.train],
        val_names=[s.name for s in data.val],
        mix_frames={_pool_name(source): len(pool) for source, (pool, _) in zip(recipe.mix, data.mix, strict=True)},
        excluded_names=data.excluded,
        selection="best validation epoch" if data.val else "last epoch (no validation frames)",
    )
    return config


def fit_run(recipe: Recipe, data: RunData, out: Path, resume: bool = False) -> Path:
    """Train one run into ``out``: build (or load) -> data -> compile -> fit; returns best.keras. A resumed run
    continues the same run (weights, optimizer state, learning-rate schedule, batch order). Raises
    TrainingDivergedError on a NaN loss and KeyboardInterrupt (saying what was kept) on Ctrl-C."""
    keras.utils.set_random_seed(recipe.seed)
    out.mkdir(parents=True, exist_ok=True)
    initial_epoch, best = 0, -math.inf
    if resume:
        state = json.loads((out / "state.json").read_text()) if (out / "state.json").is_file() else None
        if state is None or not (out / "last.keras").is_file():
            raise FileNotFoundError(f"--resume: no last.keras/state.json in '{out}'")
        initial_epoch, best = int(state["epochs_done"]), float(state["best"])

    with _strategy_scope(recipe.strategy):
        model = initial_model(recipe, out / "last.keras" if resume else None)
        if recipe.freeze_stages:
            print(f"keep: {freeze_encoder_stages(model, recipe.freeze_stages)} encoder layers frozen", flush=True)
        if recipe.l2_sp:  # the pretrained start, also when resuming (last.keras has moved away from it)
            start = pretrained_weights(initial_model(recipe) if resume else model)
        input_size = tuple(model.input.shape[1:3])
        outputs = len(model.outputs)
        train_batches = RoadBatches(
            data.train,
            input_size,
            recipe.batch_size,
            recipe.augment,
            shuffle=True,
            seed=recipe.seed,
            outputs=outputs,
            workers=recipe.workers,
            mix=data.mix,
            repeat=recipe.repeat,
            look_alike_weight=recipe.look_alike_weight,
            tiles=recipe.tiles,
        )
        compile_model(
            model,
            recipe.loss,
            learning_rate(recipe, len(train_batches)),
            outputs,
            recipe.decoder_lr_scale,
            recipe.stage_lr_scales,
        )
        if resume:
            _continue_run(model, train_batches, initial_epoch, out)
    val_batches = (
        RoadBatches(
            data.val,
            input_size,
            recipe.batch_size,
            "none",
            outputs=outputs,
            workers=recipe.workers,
            tiles=recipe.tiles,
        )
        if data.val
        else None
    )
    config = run_config(recipe, model, data, input_size)
    (out / "config.json").write_text(json.dumps(config, indent=2))

    monitor = monitored_metric(model, validating=val_batches is not None)
    checkpoint = SafeCheckpoint(out, monitor, best, keep_last=val_batches is None)
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume), checkpoint]
    if recipe.l2_sp:
        callbacks.insert(0, PullToStart(start, recipe.l2_sp))
    if recipe.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=3))
    if recipe.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=recipe.early_stopping))
    mixed = "".join(f" + {len(pool)} {pool[0].dataset} frames ({share:.0%} of each epoch)" for pool, share in data.mix)
    print(
        f"training {config['model']} ({config['params']:,} params) on {len(data.train)} {recipe.dataset} "
        f"frames{mixed}, {len(train_batches)} batches per epoch, validating on {len(data.val)}; input "
        f"{input_size[1]}x{input_size[0]}; run folder '{out}'",
        flush=True,
    )
    started = time.monotonic()
    try:
        model.fit(
            train_batches,
            validation_data=val_batches,
            epochs=recipe.epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # RoadBatches shuffles itself, seeded (Keras's shuffle uses Python's global random)
            callbacks=callbacks,
            verbose=2 if recipe.quiet else 1,
        )
    except KeyboardInterrupt:
        kept = (
            f"the last finished epoch is in '{out / 'last.keras'}'; continue with --resume"
            if (out / "last.keras").is_file()
            else "no epoch had finished, nothing was kept"
        )
        raise KeyboardInterrupt(kept) from None
    if checkpoint.nan_epoch is not None:
        last_good = (
            f"last good model: '{out / 'last.keras'}'" if (out / "last.keras").is_file() else "no epoch finished before"
        )
        raise TrainingDivergedError(
            f"the loss became NaN in epoch {checkpoint.nan_epoch}; training stopped and no checkpoint of that epoch "
            f"was written (lower --lr?); {last_good}"
        )
    if train_batches.frames_without_road:
        print(f"note: {train_batches.frames_without_road} training frames have no road pixels (kept as negatives)")
    plot_curves(out / "history.csv", out / "curves.png")
    chosen = f"best {monitor} {checkpoint.best:.4f}" if val_batches is not None else "last epoch kept"
    print(f"done in {time.monotonic() - started:.0f} s; {chosen} -> '{out / 'best.keras'}'", flush=True)
    return out / "best.keras"


def _continue_run(model: keras.Model, batches: RoadBatches, epochs_done: int, out: Path) -> None:
    """Resume where the run stopped: the optimizer's state and the batch order of epoch ``epochs_done`` (the
    augmentation's random draws restart; with augmentation off the resumed run equals the uninterrupted one)."""
    state = out / TRAINING_STATE
    if state.is_file():
        restore_training_state(model, state)
    else:
        print(f"note: no '{state}' (a run from an older version): Adam's moments and schedule restart", flush=True)
    for _ in range(epochs_done):
        batches.on_epoch_end()


def _strategy_scope(name: str):
    import contextlib

    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    return contextlib.nullcontext()
