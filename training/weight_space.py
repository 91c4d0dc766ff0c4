"""Weight-space ensembling of a fine-tuned run with the network it started from (WiSE-FT: Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022): every weight ``(1 - alpha) * start + alpha * fine-tuned``.

Fine-tuning a pretrained network on a few KITTI frames buys KITTI and costs every other camera; the straight line
between the two weight sets keeps much of both (alpha 0 is the start, 1 the fine-tuned run), at no cost when serving:
the result is one network of the same size. Meaningful only when the start is itself a trained network — the whole
Intel network, or a ``--init-from`` model — not a decoder initialised at random. Library code: ``training.interpolate``
is its command line; ``training.crossval --interpolate`` scores it per fold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from ros_road_seg.core.errors import UsageError
from training.fitting import initial_model
from training.models import load_keras_model, resolve_keras_path
from training.recipe import Recipe, read_run_config


def start_model(run: Path) -> keras.Model:
    """The network a run started from, rebuilt from its config.json exactly as ``fit_run`` built it (same seed, so a
    randomly initialised part comes out the same)."""
    config = read_run_config(run)
    if not config:
        raise UsageError(f"'{run}' has no config.json: its start cannot be rebuilt (give a run folder)")
    try:
        recipe = Recipe.from_config(config)
    except (TypeError, KeyError, ValueError) as error:  # a config.json from another version, or edited by hand
        raise UsageError(f"'{run}': its config.json does not hold a recipe this version rebuilds ({error})") from None
    keras.utils.set_random_seed(recipe.seed)
    return initial_model(recipe)


def check_alpha(alpha: float) -> float:
    """Alpha in [0, 1]: 0 the start, 1 the fine-tuned run (beyond them is extrapolation, not ensembling)."""
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise UsageError(f"--alpha {alpha} must be in [0, 1] (0: the start, 1: the fine-tuned run)")
    return alpha


def interpolated_weights(start: keras.Model, tuned: keras.Model, alpha: float) -> list[np.ndarray]:
    """Every weight of ``tuned`` (batch-norm statistics included) moved to ``(1 - alpha) * start + alpha * tuned``."""
    check_alpha(alpha)
    start_weights, tuned_weights = start.get_weights(), tuned.get_weights()
    shapes = [w.shape for w in start_weights], [w.shape for w in tuned_weights]
    if shapes[0] != shapes[1]:
        raise UsageError("the run's weights do not match the network it started from (another architecture or size)")
    return [((1.0 - alpha) * s + alpha * t).astype(t.dtype) for s, t in zip(start_weights, tuned_weights, strict=True)]


def interpolate(run: Path, alpha: float, out: Path) -> Path:
    """A run folder ``out`` (best.keras + config.json) holding ``run``'s weights interpolated toward its start;
    its config records alpha and the run, so an export says what it is. Returns out/best.keras."""
    run_dir = resolve_keras_path(run).parent
    tuned = load_keras_model(run_dir)
    tuned.set_weights(interpolated_weights(start_model(run_dir), tuned, alpha))
    out.mkdir(parents=True, exist_ok=True)
    tuned.save(out / "best.keras")
    config = {**read_run_config(run_dir), "wise_ft": {"alpha": alpha, "run": str(run_dir)}}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out / "best.keras"
