"""Block k-fold cross-validation of a training recipe (the library behind ``python -m training.crossval``).

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

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.labels import label_spec
from ros_road_seg.core.model import DEFAULT_THRESHOLD
from ros_road_seg.core.scoring import add_counts, pooled_iou, sweep_iou
from training.data import SOFT_MANIFEST, Fold, layout
from training.evaluation import evaluate, load_probability_fn
from training.fitting import fit_run, mixed_run_data
from training.recipe import Recipe, read_run_config


def make_folds(dataset: str, data: Path, folds: int, gap: int) -> list[Fold]:
    """KITTI: consecutive blocks; CamVid: whole sequences (train/ and val/ frames together)."""
    return layout(dataset).folds(Path(data), folds, gap)


def fold_recipe(recipe: Recipe, index: int) -> Recipe:
    """Fold ``index`` (0-based) of a recipe: its own seed, and ``{fold}`` in a mixed-in path replaced by the fold's
    number (``soft:runs/soft_ft/fold{fold}:0.3`` = each fold's own teacher, trained without that fold), and the same
    in ``--encoder-from``."""
    mix = tuple(dataclasses.replace(m, path=Path(str(m.path).replace("{fold}", str(index + 1)))) for m in recipe.mix)
    encoder_from = recipe.encoder_from
    if encoder_from is not None:
        encoder_from = Path(str(encoder_from).replace("{fold}", str(index + 1)))
    return dataclasses.replace(recipe, seed=recipe.seed + index, mix=mix, encoder_from=encoder_from)


def teachers_of(recipe: Recipe) -> list[dict]:
    """The teachers behind every soft-label pool the recipe mixes in (from each folder's teacher.json)."""
    teachers = []
    for source in recipe.mix:
        if label_spec(source.dataset).soft:
            manifest = json.loads((Path(source.path) / SOFT_MANIFEST).read_text())
            teachers += [{**t, "soft_labels": str(source.path)} for t in manifest["teachers"]]
    # weights trained elsewhere are teachers too: an --encoder-from or --init-from model must not have seen the fold
    for flag, source in (("--encoder-from", recipe.encoder_from), ("--init-from", recipe.init_from)):
        if source is None:
            continue
        config = read_run_config(Path(source))
        if "train_names" not in config:
            if flag == "--init-from":
                continue  # a shipped .keras without its run folder: its model card says what it saw
            raise RoadSegError(f"{flag} '{source}': no config.json with train_names beside it")
        teachers.append(
            {"model": str(source), "trained_on_names": " ".join(config["train_names"]), "soft_labels": f"({flag})"}
        )
    return teachers


def check_no_leak(fold: Fold, train_names: set[str], teachers: list[dict]) -> None:
    """A fold's held-out (and buffer) frames are in neither its training set nor any of its teachers' training sets;
    a leak would make every figure meaningless, so it is an error, not a warning."""
    held = {s.name for s in fold.held_out} | {s.name for s in fold.buffer}
    leaked = held & train_names
    if leaked:
        raise RoadSegError(f"fold {fold.name}: held-out frames {sorted(leaked)} are in its training set")
    for teacher in teachers:
        seen = held & set(teacher.get("trained_on_names", "").split())
        if seen:
            raise RoadSegError(
                f"fold {fold.name}: teacher '{teacher['model']}' (soft labels '{teacher['soft_labels']}') trained on "
                f"held-out frames {sorted(seen)}; give each fold its own teacher ('{{fold}}' in the --mix path)"
            )


def run_fold(recipe: Recipe, index: int, fold: Fold, out: Path) -> dict:
    """Train the recipe without the fold's frames, then score them."""
    result_path = out / "fold.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    started = time.monotonic()
    recipe = fold_recipe(recipe, index)
    data = mixed_run_data(recipe, fold.train, [])
    teachers = teachers_of(recipe)
    check_no_leak(fold, {s.name for s in data.train}, teachers)
    resume = (out / "state.json").is_file() and (out / "last.keras").is_file()  # an interrupted fold continues
    if resume:
        print(f"fold {fold.name}: continuing from '{out / 'last.keras'}'", flush=True)
    model_path = fit_run(recipe, data, out, resume=resume)
    probability_fn, size, description = load_probability_fn(model_path)
    scored = evaluate(probability_fn, size, fold.held_out, DEFAULT_THRESHOLD, sweep=True)
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
        "teachers": teachers,
        "pooled_iou": scored["pooled_iou_full"],
        "mean_iou": scored["mean_iou_full"],
        "per_image": scored["per_image"],
        "sweep": scored["sweep"],
        "pruned_heads_pooled_iou": heads,
        "seconds": time.monotonic() - started,
    }
    result_path.write_text(json.dumps(result, indent=2))
    return result


def summarize(folds: list[dict]) -> dict:
    pooled = [f["pooled_iou"] for f in folds]
    totals: dict[str, list[int]] = {}
    for fold in folds:
        add_counts(totals, fold["sweep"])
    heads = sorted({head for f in folds for head in f.get("pruned_heads_pooled_iou", {})})
    all_images = [row for f in folds for row in f["per_image"]]
    return {
        "folds": len(folds),
        "mean_of_fold_pooled_iou": float(np.mean(pooled)),
        "sd_of_fold_pooled_iou": float(np.std(pooled, ddof=1)) if len(pooled) > 1 else 0.0,
        "pooled_iou_all_held_out": pooled_iou([(r["intersection"], r["union"]) for r in all_images]),
        "mean_iou_all_held_out": float(np.mean([r["iou_full"] for r in all_images])),
        "pooled_iou_by_threshold": sweep_iou(totals),
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


def crossval(
    recipe: Recipe,
    out: Path,
    folds: int = 4,
    gap: int = 0,
    only_fold: list[int] | None = None,
    command: str = "",
) -> dict:
    """Every fold of ``recipe`` (or those in ``only_fold``, 1-based) into ``out/foldN``, then the summary."""
    all_folds = make_folds(recipe.dataset, recipe.data, folds, gap)
    chosen = [(i - 1, all_folds[i - 1]) for i in only_fold] if only_fold else list(enumerate(all_folds))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for index, fold in chosen:
        print(f"fold {index + 1}/{len(all_folds)}: holding out {fold.name} ({len(fold.held_out)} frames)", flush=True)
        result = run_fold(recipe, index, fold, out / f"fold{index + 1}")
        results.append(result)
        print(
            f"fold {index + 1}/{len(all_folds)} {fold.name}: pooled road IoU {result['pooled_iou']:.4f}, "
            f"mean {result['mean_iou']:.4f} ({result['seconds']:.0f} s)",
            flush=True,
        )
    report = {"recipe": command, "recipe_fields": recipe.as_json(), "folds": results, "summary": summarize(results)}
    (out / "crossval.json").write_text(json.dumps(report, indent=2))
    (out / "crossval.md").write_text(markdown(report))
    return report


def score_model(model, config: dict, held: list) -> dict:
    """A Keras model scored on held-out frames exactly as its run folder would be: saved with ``config`` (its
    config.json: tiles, if any) beside it and loaded through the one evaluation path."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "best.keras")
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        probability_fn, size, _ = load_probability_fn(Path(tmp) / "best.keras")
        return evaluate(probability_fn, size, held, DEFAULT_THRESHOLD, sweep=True)


def rescore(out: Path, input_size: tuple[int, int], dataset: str, data: Path) -> dict:
    """Score a finished cross-validation's fold models again at another input size (each fold's own held-out
    frames, weights unchanged): what exporting the recipe's model at that size costs or gains. A tiled recipe's
    folds are rescored on tiles of that size, as its export would run."""
    from training.data import Sample
    from training.models import load_keras_model, with_input_size

    by_name = {s.name: s for s in layout(dataset).frames(Path(data))}
    results = []
    for fold_dir in sorted(Path(out).glob("fold*"), key=lambda p: int(p.name[4:] or 0)):
        fold = json.loads((fold_dir / "fold.json").read_text())
        held: list[Sample] = [by_name[name] for name in fold["held_out"]]
        model = with_input_size(load_keras_model(fold_dir / "best.keras"), input_size)
        # the fold's run config goes along: a tiled recipe is rescored on tiles of the new size, not squashed
        scored = score_model(model, {**read_run_config(fold_dir), "input_size": list(input_size)}, held)
        rescored = {"pooled_iou": scored["pooled_iou_full"], "mean_iou": scored["mean_iou_full"]}
        rescored.update(per_image=scored["per_image"], sweep=scored["sweep"], pruned_heads_pooled_iou={})
        results.append({**fold, **rescored})
    report = {"recipe": f"rescored at {input_size[0]}x{input_size[1]}", "folds": results, "summary": summarize(results)}
    stem = f"crossval_{input_size[0]}x{input_size[1]}"
    (Path(out) / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (Path(out) / f"{stem}.md").write_text(markdown(report))
    return report


def interpolated(out: Path, alphas: list[float], dataset: str, data: Path) -> dict:
    """Score a finished cross-validation's fold models moved toward the network each fold started from (WiSE-FT,
    :mod:`training.weight_space`), at every alpha (0: the start, 1: the fold as trained), on the fold's own held-out
    frames: the k-fold figure that picks alpha without looking at any frame it is then scored on."""
    from training.models import load_keras_model
    from training.weight_space import check_alpha, interpolated_weights, start_model

    alphas = [check_alpha(float(alpha)) for alpha in alphas]
    by_name = {s.name: s for s in layout(dataset).frames(Path(data))}
    per_alpha: dict[float, list[dict]] = {alpha: [] for alpha in alphas}
    for fold_dir in sorted(Path(out).glob("fold*"), key=lambda p: int(p.name[4:] or 0)):
        fold = json.loads((fold_dir / "fold.json").read_text())
        held = [by_name[name] for name in fold["held_out"]]
        tuned, start = load_keras_model(fold_dir / "best.keras"), start_model(fold_dir)
        model = load_keras_model(fold_dir / "best.keras")  # every weight is set anew for each alpha
        for alpha in alphas:
            model.set_weights(interpolated_weights(start, tuned, alpha))
            scored = score_model(model, read_run_config(fold_dir), held)
            print(f"{fold_dir.name} alpha {alpha:g}: pooled road IoU {scored['pooled_iou_full']:.4f}", flush=True)
            per_alpha[alpha].append(
                {
                    **fold,
                    "pooled_iou": scored["pooled_iou_full"],
                    "mean_iou": scored["mean_iou_full"],
                    "per_image": scored["per_image"],
                    "sweep": scored["sweep"],
                    "pruned_heads_pooled_iou": {},
                }
            )
    report = {
        "recipe": "WiSE-FT: each fold's weights interpolated toward the network it started from",
        "alphas": {f"{alpha:g}": {"folds": folds, "summary": summarize(folds)} for alpha, folds in per_alpha.items()},
    }
    (Path(out) / "crossval_wise_ft.json").write_text(json.dumps(report, indent=2))
    (Path(out) / "crossval_wise_ft.md").write_text(interpolated_markdown(report))
    return report


def interpolated_markdown(report: dict) -> str:
    """One row per alpha: the mean ± sd over folds and each fold's pooled IoU."""
    first = next(iter(report["alphas"].values()))["folds"]
    lines = [
        report["recipe"],
        "",
        "| alpha (0: start, 1: as trained) | mean ± sd over folds | " + " | ".join(f["fold"] for f in first) + " |",
        "|---|---|" + "---|" * len(first),
    ]
    for alpha, entry in report["alphas"].items():
        summary = entry["summary"]
        lines.append(
            f"| {alpha} | {summary['mean_of_fold_pooled_iou']:.4f} ± {summary['sd_of_fold_pooled_iou']:.4f} | "
            + " | ".join(f"{f['pooled_iou']:.4f}" for f in entry["folds"])
            + " |"
        )
    return "\n".join(lines) + "\n"
