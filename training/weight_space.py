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
from ros_road_seg.core.paths import share_directory
from training.fitting import initial_model
from training.models import check_keras_file, load_keras_model, resolve_keras_path
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


SHIPPED_START = "intel_road_keep_wiseft_192x608.keras"  # the shipped default's weights (training.adapt's start)
# Shipped .keras files have no run folder to follow back, so each one's origin is declared here: the shipped default
# was fine-tuned from the Intel network as it comes, which ships beside it (models/, `make_models.sh`).
SHIPPED_ORIGINS = {SHIPPED_START: "intel_road_192x608.keras"}


def shipped_origin(model: Path) -> Path | None:
    """The declared origin of a shipped ``models/*.keras`` (:data:`SHIPPED_ORIGINS`), None for any other file."""
    models = share_directory() / "models"
    for name, origin in SHIPPED_ORIGINS.items():
        if (models / name).is_file() and Path(model).resolve() == (models / name).resolve():
            return models / origin
    return None


def origin_model(run: Path) -> keras.Model:
    """The pretrained network at the root of a run's chain of starts. A run begun from another model (``init_from``:
    an adaptation begun from a fine-tuned, moved-back model) is followed back through each model's config.json to the
    first run that began from pretrained weights, whose start is rebuilt; a shipped model continues to its declared
    origin (:data:`SHIPPED_ORIGINS`); any other model without a config.json (a ``.keras`` from elsewhere) ends the
    chain and is itself the origin. Moving toward it, rather than toward the run's own start, restores what the
    network knew before any fine-tuning (the start may itself have lost some)."""
    model = resolve_keras_path(run)
    for _ in range(32):  # a chain longer than this is a loop of configs naming each other
        config = read_run_config(model.parent)
        if not config:
            origin = shipped_origin(model)
            if origin is None:
                return load_keras_model(model)
            model = origin
        elif not config.get("init_from"):
            return start_model(model.parent)
        else:
            model = resolve_keras_path(Path(config["init_from"]))
    raise UsageError(f"'{run}': its chain of init_from starts does not end (configs naming each other?)")


TOWARD = ("start", "origin")  # what a run is moved back toward: its own start, or the pretrained origin of its chain


def describe_toward(toward: str) -> str:
    """How logs name what a run moves toward: ``the start``, ``the origin``, or the model file in quotes."""
    return f"the {toward}" if toward in TOWARD else f"'{toward}'"


def toward_model(run: Path, toward: str) -> keras.Model:
    """What ``run`` is moved back toward: ``start``, ``origin`` (:func:`origin_model`) or a model file of the same
    architecture."""
    if toward == "start":
        return start_model(resolve_keras_path(run).parent)
    if toward == "origin":
        return origin_model(run)
    return load_keras_model(check_toward(toward))


def check_toward(toward: str) -> str | Path:
    """``start``, ``origin``, or the model file it names (checked: missing is a usage error, damaged a load error)."""
    if toward in TOWARD:
        return toward
    if not Path(toward).exists():
        raise UsageError(f"toward '{toward}' is neither {' nor '.join(TOWARD)} nor a model file")
    return check_keras_file(Path(toward))


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


def interpolate(run: Path, alpha: float, out: Path, toward: str = "start") -> Path:
    """A run folder ``out`` (best.keras + config.json) holding ``run``'s weights interpolated toward its start (or
    what ``toward`` names: :func:`toward_model`); its config records alpha, the run and what it moved toward, so an
    export says what it is. Returns out/best.keras."""
    run_dir = resolve_keras_path(run).parent
    other = toward_model(run_dir, toward)
    tuned = load_keras_model(run_dir)
    tuned.set_weights(interpolated_weights(other, tuned, alpha))
    out.mkdir(parents=True, exist_ok=True)
    tuned.save(out / "best.keras")
    config = {**read_run_config(run_dir), "wise_ft": {"alpha": alpha, "run": str(run_dir), "toward": toward}}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out / "best.keras"
