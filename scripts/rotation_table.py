"""The CamVid rotation table (issue 25; bash scripts/camvid_rotation.sh) from the runs' own JSON: road IoU on every
frame of the held-out sequence for the KITTI-only start as fine-tuned (runs/keep/kitti_only_wiseft/<held>/) and as
served (moved back toward the network as it comes, alpha 0.75: the start of both adaptations), the adaptation
without labels and with 20 labels (runs/rotation/<held>/{no_labels,labels20}/adapt_summary.json: the served file;
runs/rotation_seed<n>/ the same adaptations with other fine-tune seeds: each run, then their mean), beside the
zero-shot Intel network on the same frames (runs/keep/camvid_zero_shot).
With runs/rotation*/<held>/<variant>/toward_origin_a<alpha>/ (scripts/rotation_toward_origin.sh), a third table: the
same adaptations moved toward the network as it comes instead of toward their start; with their scores on the 20
labelled frames (CHOOSE=1 ALPHAS="0.25 0.5 0.75 1" bash scripts/rotation_toward_origin.sh), a fourth: the alpha
those 20 frames choose.
Usage: rotation_table.py [mean_flip] [--json F]: mean_flip, the runs with training.adapt's teachers as they are now
(their mean with the mirrored frame; runs/rotation_mean_flip*), else the fifth session's (the more certain teacher per
frame). Exits non-zero naming what is missing (scripts/card_tables.py then leaves the committed table as it is)."""

import json
import sys
from pathlib import Path

TAG = "_mean_flip" if "mean_flip" in sys.argv[1:] else ""
ROOT = Path(f"runs/rotation{TAG}")
KITTI_ONLY = Path("runs/keep/kitti_only_wiseft")
ZERO_SHOT = Path("runs/keep/camvid_zero_shot")
SEQUENCES = ("0001TP", "0006R0", "0016E5")
if not ROOT.is_dir():
    sys.exit(f"rotation_table: no adaptation runs under {ROOT} (bash scripts/camvid_rotation.sh)")


SEEDS = [ROOT, *sorted(Path("runs").glob(f"rotation{TAG}_seed*"))]  # seed 0 first


def summaries(held: str, variant: str) -> list[dict]:
    paths = [root / held / variant / "adapt_summary.json" for root in SEEDS]
    return [json.loads(path.read_text()) for path in paths if path.is_file()]


def scored(folder: Path, held: str) -> float | None:
    path = folder / held / "eval_camvid_all.json"
    return json.loads(path.read_text())["pooled_iou_full"] if path.is_file() else None


def brief(summary: dict) -> dict:
    """What the table's JSON keeps of a run's summary (no machine paths)."""
    keys = ("served", "ms_per_frame", "wise_ft_alpha", "road_iou_labelled", "agreement_with_teacher")
    return {**{k: summary.get(k) for k in keys}, "seconds_per_stage": summary["seconds_per_stage"]}


def cell(value: float | None, start: float | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" + ("" if start is None else f" ({100 * (value - start):+.1f})")


def runs_cell(values: list[float], start: float | None) -> str:
    """One run: its score (points over the start); several: each, then their mean (points over the start)."""
    if len(values) < 2:
        return cell(values[0] if values else None, start)
    return " / ".join(f"{v:.4f}" for v in values) + f": mean {cell(sum(values) / len(values), start)}"


TEACHING = "mean of the two, with the mirror" if TAG else "the more certain per frame"
VARIANTS = Path("runs/keep/teacher_variants.json")  # scripts/teacher_variants.py: the teachers on the same frames
teachers = json.loads(VARIANTS.read_text()).get(TEACHING, {}) if VARIANTS.is_file() else {}
COLUMNS = (
    "held-out sequence (all frames)", "KITTI-only, as fine-tuned", "start: KITTI-only, alpha 0.75",
    "adapted, no labels", "adapted, 20 labels", "zero-shot Intel", f"teachers: {TEACHING}", "served",
    "agreement with teacher (held-back frames), no labels",
)  # fmt: skip
print("| " + " | ".join(COLUMNS) + " |")
print("|" + "---|" * len(COLUMNS))
record = {}
for held in SEQUENCES:
    plain, labelled = summaries(held, "no_labels"), summaries(held, "labels20")
    tuned, start = scored(KITTI_ONLY, held), scored(Path(f"{KITTI_ONLY}_a0.75"), held)
    after = [s["road_iou_labelled"]["after"] for s in plain]
    with_labels = [s["road_iou_labelled"]["after"] for s in labelled]
    zero = scored(ZERO_SHOT, held)
    agree = [s["agreement_with_teacher"] for s in plain]
    agreement = " / ".join(f"{a['before']:.4f} → {a['after']:.4f}" for a in agree) or "—"
    served = "/".join(sorted({s["served"].upper() for s in plain + labelled})) or "—"
    adapted = runs_cell(after, start), runs_cell(with_labels, start)
    teacher = teachers.get(held)
    cells = (held, cell(tuned), cell(start), *adapted, cell(zero), cell(teacher, start), served, agreement)
    print("| " + " | ".join(cells) + " |")
    record[held] = {
        "kitti_only_as_fine_tuned": tuned,
        "start_kitti_only_alpha_0.75": start,
        "adapted_no_labels": after,
        "adapted_20_labels": with_labels,
        "zero_shot": zero,
        "teachers": teacher,
        "agreement_with_teacher_no_labels": agree,
        "runs": {"no_labels": [brief(s) for s in plain], "labels20": [brief(s) for s in labelled]},
    }
print()
print("The same adaptations as fine-tuned (alpha 1, not moved back toward the start; `<run>/run/<held>/`):")
print()
print("| held-out sequence | start: KITTI-only, alpha 0.75 | no labels, alpha 1 | 20 labels, alpha 1 |")
print("|---|---|---|---|")
for held in SEQUENCES:
    start = record[held]["start_kitti_only_alpha_0.75"]
    columns = []
    for variant in ("no_labels", "labels20"):
        values = [scored(root / held / variant / "run", held) for root in SEEDS]
        columns.append(runs_cell([v for v in values if v is not None], start))
        record[held][f"{variant}_alpha_1"] = values
    print(f"| {held} | {cell(start)} | {' | '.join(columns)} |")
ALPHAS = sorted({p.name.removeprefix("toward_origin_a") for p in ROOT.glob("*/*/toward_origin_a*")} - {"0"}, reverse=True)
if ALPHAS:  # scripts/rotation_toward_origin.sh: the same runs moved toward the network as it comes instead
    print()
    print(
        "The same adaptations moved back toward the network as it comes (`training.interpolate --toward origin`,"
        " `<run>/toward_origin_a<alpha>/<held>/`; the zero-shot column is that network itself):"
    )
    print()
    heads = [f"{variant}, alpha {alpha}" for variant in ("no labels", "20 labels") for alpha in ALPHAS]
    print("| held-out sequence | start: KITTI-only, alpha 0.75 | zero-shot Intel | " + " | ".join(heads) + " |")
    print("|" + "---|" * (3 + len(heads)))
    for held in SEQUENCES:
        start, columns = record[held]["start_kitti_only_alpha_0.75"], []
        for variant in ("no_labels", "labels20"):
            for alpha in ALPHAS:
                values = [scored(root / held / variant / f"toward_origin_a{alpha}", held) for root in SEEDS]
                columns.append(runs_cell([v for v in values if v is not None], start))
                record[held][f"{variant}_toward_origin_alpha_{alpha}"] = values
        print(f"| {held} | {cell(start)} | {cell(record[held]['zero_shot'], start)} | {' | '.join(columns)} |")
GRID = ("0.25", "0.5", "0.75", "1")  # CHOOSE=1 in scripts/rotation_toward_origin.sh: the grid, fixed before any score


def moved(root: Path, held: str, variant: str, alpha: str) -> Path:
    return root / held / variant / ("run" if alpha == "1" else f"toward_origin_a{alpha}")


def on_twenty(folder: Path) -> float | None:
    path = folder / "labelled20" / "eval_folder_all.json"
    return json.loads(path.read_text())["pooled_iou_full"] if path.is_file() else None


if any(on_twenty(moved(root, held, "no_labels", "1")) for root in SEEDS for held in SEQUENCES):
    print()
    print(
        "Alpha chosen by the 20 labelled frames of the adaptation sequences (`CHOOSE=1 ALPHAS='0.25 0.5 0.75 1' bash"
        " scripts/rotation_toward_origin.sh`: the grid 0.25 / 0.5 / 0.75 / 1 toward the network as it comes, the"
        " alpha with the highest pooled IoU on those 20 frames; each seed: chosen alpha, its held-out IoU; then the mean over seeds, and the fixed 0.75 for"
        " comparison). No labels: the 20 frames only choose; 20 labels: they were also trained on (a biased choice):"
    )
    print()
    heads = ("no labels: chosen", "no labels: fixed 0.75", "20 labels: chosen", "20 labels: fixed 0.75")
    print("| held-out sequence | " + " | ".join(heads) + " |")
    print("|---|---|---|---|---|")
    for held in SEQUENCES:
        start, columns = record[held]["start_kitti_only_alpha_0.75"], []
        for variant in ("no_labels", "labels20"):
            choices = []
            for root in SEEDS:
                twenty = {alpha: on_twenty(moved(root, held, variant, alpha)) for alpha in GRID}
                if None in twenty.values():
                    continue
                best = max(GRID, key=lambda alpha: twenty[alpha])
                choices.append({"seed_root": root.name, "on_twenty": twenty, "chosen": best,
                                "held_out": scored(moved(root, held, variant, best), held)})  # fmt: skip
            record[held][f"{variant}_alpha_chosen_on_twenty"] = choices
            chosen = [c["held_out"] for c in choices if c["held_out"] is not None]
            fixed = [v for v in record[held].get(f"{variant}_toward_origin_alpha_0.75", []) if v is not None]
            picks = ", ".join(c["chosen"] for c in choices)
            columns += [f"alpha {picks}: {runs_cell(chosen, start)}", runs_cell(fixed, start)]
        print(f"| {held} | {' | '.join(columns)} |")
if "--json" in sys.argv:
    Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(record, indent=2))
