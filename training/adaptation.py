"""Adapting a road model to your camera: your frames (a folder, or a bag) -> the zero-shot teachers' soft labels on
them (cached) -> the start model fine-tuned on them with the keep terms (L2-SP toward the start; the start's own
labelled frames replayed beside yours; the weights moved back toward the start afterwards, WiSE-FT; a few labelled
frames of your camera if you have them) -> FP32, INT8 calibrated on your frames, FP16 -> a summary with before/after
figures.

Why replay and WiSE-FT: soft labels alone teach the student the teacher's answer on your camera, so it ends at best
where the teacher is. Issue 24's default went past the teacher on a camera it never saw by learning the KITTI labels
beside the teacher's soft labels on other frames, then moving back toward the network as it came; ``--replay`` and
``--alpha`` offer the same terms here. Moved back toward *what*: the start may itself be a fine-tuned model that has
lost some of what the pretrained network knew (the shipped default is one), so the default moves the adapted weights
toward the pretrained network at the root of the start's chain (``--toward``, alpha 0.75 as the shipped default's
own). Measured with CamVid as the camera (models/README.md): better than not moving and than moving toward the start
in all six cells of the rotation, by 0.1-0.9 points.

Each stage leaves its result in the adaptation folder and is skipped when that result is there, so an interrupted
adaptation continues where it stopped. Library code: ``training.adapt`` is its command line.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ros_road_seg.core.errors import DatasetError, ModelLoadError, UsageError
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.core.labels import read_label, road_masks
from ros_road_seg.core.model import FP16_SIBLING_KEY
from ros_road_seg.core.progress import with_progress
from ros_road_seg.core.scoring import frame_mask, iou_counts, pooled_iou
from training.data import SOFT_MANIFEST, MixSource, layout, training_pool
from training.recipe import Recipe

STAGES = ("frames", "soft labels", "fine-tune", "export", "summary")
SOFT_THRESHOLD = 0.5  # a teacher's probability above this counts as road when agreement is scored
INT8_GAIN = 0.9  # INT8 is served only when it takes at most this share of FP32's time on your frames, here
ALPHA_GRID = (0.25, 0.5, 0.75, 1.0)  # --alpha auto: the WiSE-FT alphas tried on your labelled frames


@dataclass(frozen=True)
class Adaptation:
    """What one adaptation uses; ``out`` holds every stage's result."""

    out: Path
    start: Path  # the .keras model to adapt (the shipped default's weights by default)
    teachers: tuple[Path, ...]
    combine: str = "mean"  # several teachers: their mean (or the most certain one per frame, "confident")
    flip: bool = True  # each teacher also answers on the mirrored frame
    frames: Path | None = None  # a folder of your frames, or:
    bag: Path | None = None
    topic: str | None = None
    hz: float = 2.0
    labelled: Path | None = None  # a few labelled frames to train on too
    labelled_dataset: str = "kitti"
    labelled_repeat: int = 4  # each labelled frame this often per epoch (beside the soft frames' share)
    evaluate_on: Path | None = None  # labelled frames never trained on: before/after road IoU
    evaluate_dataset: str = "kitti"
    evaluate_only: tuple[str, ...] = ()
    road_id: int | None = None  # a folder dataset's road value (--road-value / --road-id)
    ignore_id: int | None = None
    input_size: tuple[int, int] | None = None  # None: the start model's own size
    epochs: int = 8
    lr: float = 1e-4
    l2_sp: float = 1e-3
    replay: tuple[MixSource, ...] = ()  # the start's own labelled frames, mixed into every epoch
    alpha: float | None = 0.75  # WiSE-FT: 1 the fine-tuned weights as they are, 0 what they move toward; None:
    # chosen from ALPHA_GRID by road IoU on the evaluate_on frames (choose_alpha)
    toward: str = "origin"  # start, the pretrained origin of the start's chain, or a .keras (weight_space.toward_model)
    seed: int = 0  # the fine-tune's shuffling and augmentation
    soft_share: float = 0.5
    hold_back_every: int = 10  # every n-th frame is held back from training to measure agreement with the teacher
    calibration_frames: int = 64


def say(stage: int, text: str) -> None:
    print(f"[adapt] {stage}/{len(STAGES)} {STAGES[stage - 1]}: {text}", flush=True)


def frames_folder(plan: Adaptation) -> Path:
    """Stage 1: the frames to adapt on (out/frames from a bag, written once; or the folder given)."""
    if plan.bag is None:  # checked by check_inputs
        say(1, f"'{plan.frames}'")
        return plan.frames
    folder = plan.out / "frames"
    marker = folder / ".complete"
    if marker.is_file():
        say(1, f"'{folder}' (done before)")
        return folder
    from ros_road_seg.tools.bag_to_frames import extract

    say(1, f"reading '{plan.topic}' from '{plan.bag}' at most {plan.hz:g} frames/s")
    result = extract(plan.bag, plan.topic, folder, hz=plan.hz)
    if not result["written"]:
        raise DatasetError(f"no frame of '{plan.topic}' in '{plan.bag}' could be used ({result['first_bad']})")
    marker.write_text(json.dumps(result))
    return folder


def frame_names(folder: Path) -> list[str]:
    names = sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(names) < 2:
        raise DatasetError(f"'{folder}' holds {len(names)} frames; adaptation needs a few dozen")
    return names


def soft_labels(plan: Adaptation, frames: Path) -> Path:
    """Stage 2: the teachers' road probability on every frame, cached; made again when the teachers or the way they
    are combined changed. Mean and mirror by default: on the 32 KITTI frames (the selection set; no frame of a
    CamVid rotation) the two Intel teachers' mean with the mirrored frame scored 0.8844 against 0.8707 for the more
    certain teacher alone and 0.8643 for the 192x608 one (models/README.md)."""
    from training.soft_labels import distill

    soft = plan.out / "soft"
    wanted = {"teachers": [str(p.resolve()) for p in plan.teachers], "combine": plan.combine, "flip": plan.flip}
    manifest = soft / "teacher.json"
    if manifest.is_file() and soft_recipe(json.loads(manifest.read_text())) == wanted:
        say(2, f"'{soft}' (done before)")
        return soft
    how = f"{plan.combine}{', with the mirrored frame' if plan.flip else ''}"
    say(2, f"{len(frame_names(frames))} frames, teachers {', '.join(p.name for p in plan.teachers)} ({how})")
    distill(list(plan.teachers), frames, soft, combine=plan.combine, flip=plan.flip)
    return soft


def soft_recipe(manifest: dict) -> dict:
    """What made a soft-label cache: the teachers' paths, how they were combined, the mirror."""
    return {
        "teachers": [str(Path(t["model"]).resolve()) for t in manifest.get("teachers", [])],
        "combine": manifest.get("combine"),
        "flip": manifest.get("flip", False),
    }


def held_back(frames: Path, every: int) -> list[str]:
    """Every ``every``-th frame (at least one): never trained on, scored for agreement with the teacher."""
    names = frame_names(frames)
    return names[every // 2 :: every] or names[:1]


def fine_tune(plan: Adaptation, soft: Path, kept_out: list[str]) -> Path:
    """Stage 3: the start model at the served size, trained on the soft labels (and labelled frames), pulled toward
    its start (L2-SP) so it keeps what it knew. Resumes an interrupted run."""
    from training.fitting import fit_run, mixed_run_data
    from training.weight_space import describe_toward

    run = plan.out / "run"
    state = run / "state.json"
    current = state.is_file() and state.stat().st_mtime >= (soft / SOFT_MANIFEST).stat().st_mtime
    if current and json.loads(state.read_text())["epochs_done"] >= plan.epochs:
        say(3, f"'{run}' (done before)")
        return run
    labelled = plan.labelled is not None
    recipe = Recipe(
        dataset=plan.labelled_dataset if labelled else "soft",
        data=plan.labelled if labelled else soft,
        mix=((MixSource("soft", soft, plan.soft_share),) if labelled else ()) + plan.replay,
        repeat=plan.labelled_repeat if labelled else 1,
        exclude=tuple(kept_out),
        init_from=plan.start,
        input_size=plan.input_size,
        epochs=plan.epochs,
        lr=plan.lr,
        l2_sp=plan.l2_sp,
        augment="strong",
        batch_size=8,
        quiet=not sys.stderr.isatty(),  # Keras's progress bar on a terminal, one line per epoch in a log
        workers=2,
        seed=plan.seed,
        road_id=plan.road_id,
        ignore_id=plan.ignore_id,
    )
    primary = training_pool(recipe.dataset, recipe.data)
    replayed = "".join(f", {source.dataset} '{source.path}' replayed {source.share:.0%}" for source in plan.replay)
    say(
        3,
        f"{len(primary)} {'labelled' if labelled else 'soft-labelled'} frames{replayed}, {plan.epochs} epochs, "
        f"L2-SP {plan.l2_sp:g}, WiSE-FT alpha {'auto' if plan.alpha is None else f'{plan.alpha:g}'} toward "
        f"{describe_toward(plan.toward)}",
    )
    resume = current and (run / "last.keras").is_file()  # a run on soft labels made since starts over
    fit_run(recipe, mixed_run_data(recipe, primary, []), run, resume=resume)
    return run


def alpha_choice_folder(plan: Adaptation, alpha: float | None = None) -> Path:
    """Where ``--alpha auto`` keeps its choice, and each candidate moved by ``alpha``."""
    folder = plan.out / "alpha_choice"
    return folder if alpha is None else folder / f"a{alpha:g}"


def choose_alpha(plan: Adaptation, run: Path) -> dict:
    """``--alpha auto``: the fine-tuned run moved toward ``plan.toward`` by each alpha of ALPHA_GRID (a grid fixed
    beforehand) and scored on your labelled frames never trained on (``evaluate_on``); the best wins, the smaller
    alpha on a tie (nearer what the network knew). On CamVid as the camera, 20 such frames chose as well as or better
    than the fixed 0.75 in all six rotation runs without labels (models/README.md). Kept in
    out/alpha_choice/choice.json; made again when the run is newer. The summary's "after" IoU is then measured on the
    frames that chose: read the grid's scores beside it."""
    folder, tuned = alpha_choice_folder(plan), run / "best.keras"
    record = folder / "choice.json"
    wanted = {"toward": plan.toward, "evaluate_on": str(plan.evaluate_on), "only": list(plan.evaluate_only)}
    if record.is_file() and record.stat().st_mtime >= tuned.stat().st_mtime:
        choice = json.loads(record.read_text())
        if {key: choice.get(key) for key in wanted} == wanted:
            say(3, f"alpha {choice['alpha']:g} chosen before ('{record}')")
            return choice
    scores = {}
    for alpha in ALPHA_GRID:
        model = moved_back(replace(plan, alpha=alpha), run, alpha_choice_folder(plan, alpha))
        scores[f"{alpha:g}"] = labelled_iou(model, plan)
    best = max(ALPHA_GRID, key=lambda alpha: scores[f"{alpha:g}"])  # the first of equals: the smaller alpha
    chosen = ", ".join(f"{alpha} {iou:.4f}" for alpha, iou in scores.items())
    say(3, f"alpha {best:g} chosen by road IoU on '{plan.evaluate_on}' ({chosen})")
    choice = {**wanted, "alpha": best, "road_iou_by_alpha": scores}
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(choice, indent=2))
    return choice


def moved_back(plan: Adaptation, run: Path, out: Path | None = None) -> Path:
    """The fine-tuned run moved back toward the start (or the pretrained origin) by ``plan.alpha`` (WiSE-FT; into
    ``out``, out/wise_ft by default, kept and reused while it matches), or the run's own model at alpha 1."""
    if plan.alpha >= 1.0:
        return run / "best.keras"
    from training.weight_space import interpolate

    out = out or plan.out / "wise_ft"
    moved, tuned = out / "best.keras", run / "best.keras"
    if moved.is_file() and moved.stat().st_mtime >= tuned.stat().st_mtime:  # not older than the run it moves
        config = json.loads((out / "config.json").read_text())
        if config.get("wise_ft", {}).get("alpha") == plan.alpha and config["wise_ft"].get("toward") == plan.toward:
            return moved
    return interpolate(run, plan.alpha, out, plan.toward)


def export_models(plan: Adaptation, model: Path, frames: Path) -> dict[str, Path]:
    """Stage 4: FP32, INT8 (calibrated on your frames) and FP16, each with ``road_seg.*`` metadata naming the
    adaptation."""
    from training.onnx_export import export, read_metadata, write_metadata
    from training.quantization import convert_fp16, quantize_int8

    files = {precision: plan.out / f"adapted{suffix}.onnx" for precision, suffix in
             (("fp32", ""), ("int8", "_int8"), ("fp16", "_fp16"))}  # fmt: skip
    if all(path.is_file() and path.stat().st_mtime >= model.stat().st_mtime for path in files.values()):
        say(4, f"'{files['int8']}' (done before)")
        return files
    calibration = min(plan.calibration_frames, len(frame_names(frames)))
    say(4, f"'{files['fp32'].name}', INT8 calibrated on {calibration} of your frames, FP16")
    source = plan.bag or plan.frames
    extra = {"adapted_from": plan.start.name, "adapted_on": f"{source}" + (f" {plan.topic}" if plan.topic else "")}
    if plan.labelled is not None:
        extra["adapted_with_labels"] = str(plan.labelled)
    export(model, files["fp32"], extra_metadata=extra)
    convert_fp16(files["fp32"], files["fp16"])
    quantize_int8(files["fp32"], frames, files["int8"], plan.calibration_frames)
    write_metadata(files["int8"], {**read_metadata(files["int8"]), FP16_SIBLING_KEY: files["fp16"].name})
    return files


def served_precision(files: dict[str, Path], frames: Path, rounds: int = 3, calls: int = 10) -> tuple[str, dict]:
    """The file to serve on this machine: INT8 when the core's whole frame path (preprocess, inference, mask,
    overlay) on your frames takes at most ``INT8_GAIN`` of FP32's time, else FP32, the more exact. Quantize/dequantize
    steps can cost a small network more than integer convolutions save (the whole Intel network: FP32 serves 30 FPS,
    INT8 13-20 here), so it is measured, not assumed. Alternating rounds, the median of each; returns ms per frame."""
    from ros_road_seg.core.segmenter import Segmenter
    from ros_road_seg.core.stats import time_calls

    images = sorted(p for p in frames.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:calls]
    rgb = [read_rgb_file(path) for path in images]
    segmenters = {precision: Segmenter(files[precision]) for precision in ("fp32", "int8")}
    times: dict[str, list[float]] = {precision: [] for precision in segmenters}
    for _ in range(rounds):
        for precision, segmenter in segmenters.items():
            times[precision] += time_calls(segmenter.segment, rgb, calls, warmup=2)
    median_ms = {precision: round(1000 * float(np.median(seconds)), 2) for precision, seconds in times.items()}
    return ("int8" if median_ms["int8"] <= INT8_GAIN * median_ms["fp32"] else "fp32"), median_ms


def agreement(model: Path, soft: Path, frames: Path, names: list[str]) -> float:
    """Pooled road IoU of a model's masks against the teacher's (thresholded) on frames it never trained on."""
    from training.evaluation import load_probability_fn

    probability_fn, _, description = load_probability_fn(model)
    counts = []
    images = {p.stem: p for p in frames.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    for name in with_progress(names, len(names), "held-back frames scored"):
        rgb = read_rgb_file(images[name])
        teacher = road_masks(read_label(soft / "labels" / f"{name}.png"), "soft")[0] > SOFT_THRESHOLD
        mask = frame_mask(probability_fn(rgb), rgb.shape[:2], description["threshold"]) > 0
        counts.append(iou_counts(mask, teacher))
    return pooled_iou(counts)


def evaluation_frames(plan: Adaptation) -> list:
    """The labelled frames never trained on (``--evaluate-on``, narrowed by ``--evaluate-only``)."""
    samples = layout(plan.evaluate_dataset).frames(plan.evaluate_on)
    if plan.evaluate_only:
        samples = [s for s in samples if any(fnmatch.fnmatchcase(s.name, p) for p in plan.evaluate_only)]
    if not samples:
        raise DatasetError(f"no {plan.evaluate_dataset} frames to score in '{plan.evaluate_on}' {plan.evaluate_only}")
    return samples


def labelled_iou(model: Path, plan: Adaptation) -> float:
    from training.evaluation import evaluate, load_probability_fn

    samples = evaluation_frames(plan)
    probability_fn, size, description = load_probability_fn(model)
    return evaluate(probability_fn, size, samples, description["threshold"], progress=True)["pooled_iou_full"]


def summary(
    plan: Adaptation, files: dict[str, Path], soft: Path, frames: Path, kept_out: list[str], seconds: dict
) -> dict:
    """Stage 5: before/after agreement with the teacher on held-back frames, before/after road IoU on labelled
    frames never trained on, and the launch line."""
    precision, median_ms = served_precision(files, frames)
    served = plan.out / "served.onnx"  # one name to launch, whichever precision is faster here
    served.unlink(missing_ok=True)
    served.symlink_to(files[precision].name)
    timings = f"FP32 {median_ms['fp32']}, INT8 {median_ms['int8']}"
    say(5, f"serving {files[precision].name} as {served.name} (ms per frame here: {timings})")
    say(5, f"scoring the start model and the adapted one on {len(kept_out)} held-back frames")
    result = {
        "start": str(plan.start),
        "adapted": {k: str(v) for k, v in files.items()},
        "served": precision,
        "ms_per_frame": median_ms,
        "teachers": {"models": [str(p) for p in plan.teachers], "combine": plan.combine, "flip": plan.flip},
        "replay": [f"{source.dataset}:{source.path}:{source.share:g}" for source in plan.replay],
        "wise_ft_alpha": plan.alpha,
        "wise_ft_toward": plan.toward,
        "held_back_frames": kept_out,
        "agreement_with_teacher": {
            "before": agreement(plan.start, soft, frames, kept_out),
            "after": agreement(served, soft, frames, kept_out),
        },
        "seconds_per_stage": seconds,
        "launch": f"ros2 launch ros_road_seg seg.launch.py model:={served.absolute()}"
        + (f" image_topic:={plan.topic}" if plan.topic else ""),  # the camera it adapted to, from the bag
    }
    if plan.evaluate_on is not None:
        result["road_iou_labelled"] = {
            "before": labelled_iou(plan.start, plan),
            "after": labelled_iou(served, plan),
            # the free models as they come, on the same frames: is adapting worth it on this camera?
            "teachers": {str(teacher): labelled_iou(teacher, plan) for teacher in plan.teachers},
            # the same folder given as --labelled: these frames were trained on, so "after" flatters the model
            "also_trained_on": plan.labelled is not None and plan.labelled.resolve() == plan.evaluate_on.resolve(),
        }
    (plan.out / "adapt_summary.json").write_text(json.dumps(result, indent=2))
    return result


def check_inputs(plan: Adaptation) -> None:
    """The frames folder, the start, the teachers, what the weights move toward and the labelled frames, checked
    before any stage (and before --out is made): found wrong only when used, they would end a run after minutes of
    soft labels or fine-tuning (the frames to score: after all of it)."""
    from training.models import check_keras_file
    from training.weight_space import check_toward

    if plan.alpha is None and plan.evaluate_on is None:
        raise UsageError("--alpha auto chooses on your labelled frames: give them with --evaluate-on DIR")
    if plan.alpha is None and plan.labelled is not None and plan.labelled.resolve() == plan.evaluate_on.resolve():
        raise UsageError(
            "--alpha auto chooses on labelled frames never trained on: --evaluate-on must not be the --labelled "
            "folder (frames trained on favour the fine-tuned end; on CamVid they once chose 1 and lost 0.2 points)"
        )
    if plan.bag is None and (plan.frames is None or not plan.frames.is_dir()):
        raise DatasetError(f"frames folder '{plan.frames}' does not exist (give --frames DIR or --bag BAG)")
    check_keras_file(plan.start)
    check_toward(plan.toward)
    if plan.labelled is not None:  # each read as its stage will read it: a wrong folder or mask is named now
        training_pool(plan.labelled_dataset, plan.labelled)
    for source in plan.replay:
        training_pool(source.dataset, source.path)
    if plan.evaluate_on is not None:
        evaluation_frames(plan)
    for teacher in plan.teachers:
        if not Path(teacher).is_file():
            raise ModelLoadError(f"teacher '{teacher}' does not exist or is not a file")


def adapt(plan: Adaptation) -> dict:
    """Run (or continue) every stage; returns the summary (also in out/adapt_summary.json)."""
    check_inputs(plan)
    plan.out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    started = time.monotonic()
    frames = frames_folder(plan)
    seconds["frames"] = time.monotonic() - started
    started = time.monotonic()
    soft = soft_labels(plan, frames)
    seconds["soft labels"] = time.monotonic() - started
    kept_out = held_back(frames, plan.hold_back_every)
    started = time.monotonic()
    run = fine_tune(plan, soft, kept_out)
    choice = None
    if plan.alpha is None:
        seconds["fine-tune"] = time.monotonic() - started
        started = time.monotonic()
        choice = choose_alpha(plan, run)
        plan = replace(plan, alpha=choice["alpha"])
    model = moved_back(plan, run, alpha_choice_folder(plan, plan.alpha) if choice else None)  # chosen: made already
    seconds["alpha choice" if choice else "fine-tune"] = time.monotonic() - started
    started = time.monotonic()
    files = export_models(plan, model, frames)
    seconds["export"] = time.monotonic() - started
    started = time.monotonic()
    result = summary(plan, files, soft, frames, kept_out, seconds)
    if choice is not None:  # what chose the alpha: the "after" IoU below was measured on the same frames
        result["wise_ft_alpha_choice"] = {"grid": list(ALPHA_GRID), **choice}
    result["seconds_per_stage"]["summary"] = time.monotonic() - started
    (plan.out / "adapt_summary.json").write_text(json.dumps(result, indent=2))
    return result
