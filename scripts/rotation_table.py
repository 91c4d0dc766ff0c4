"""The CamVid rotation table (issue 25; bash scripts/camvid_rotation.sh) from the runs' own JSON: road IoU on every
frame of the held-out sequence for the KITTI-only start as fine-tuned (runs/keep/kitti_only_wiseft/<held>/) and as
served (moved back toward the network as it comes, alpha 0.75: the start of both adaptations), the adaptation
without labels and with 20 labels (runs/rotation/<held>/{no_labels,labels20}/adapt_summary.json: the served file),
beside the zero-shot Intel network on the same frames (runs/keep/camvid_zero_shot).
Usage: rotation_table.py [--json F]. Exits non-zero naming what is missing (scripts/card_tables.py then leaves the
committed table as it is)."""

import json
import sys
from pathlib import Path

ROOT = Path("runs/rotation")
KITTI_ONLY = Path("runs/keep/kitti_only_wiseft")
ZERO_SHOT = Path("runs/keep/camvid_zero_shot")
SEQUENCES = ("0001TP", "0006R0", "0016E5")
if not ROOT.is_dir():
    sys.exit(f"rotation_table: no adaptation runs under {ROOT} (bash scripts/camvid_rotation.sh)")


def summary(held: str, variant: str) -> dict | None:
    path = ROOT / held / variant / "adapt_summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def scored(folder: Path, held: str) -> float | None:
    path = folder / held / "eval_camvid_all.json"
    return json.loads(path.read_text())["pooled_iou_full"] if path.is_file() else None


def cell(value: float | None, start: float | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" + ("" if start is None else f" ({100 * (value - start):+.1f})")


COLUMNS = (
    "held-out sequence (all frames)", "KITTI-only, as fine-tuned", "start: KITTI-only, alpha 0.75",
    "adapted, no labels", "adapted, 20 labels", "zero-shot Intel", "served",
    "agreement with teacher (held-back frames), no labels",
)  # fmt: skip
print("| " + " | ".join(COLUMNS) + " |")
print("|---|---|---|---|---|---|---|---|")
record = {}
for held in SEQUENCES:
    plain, labelled = summary(held, "no_labels"), summary(held, "labels20")
    tuned, start = scored(KITTI_ONLY, held), scored(Path(f"{KITTI_ONLY}_a0.75"), held)
    after = plain["road_iou_labelled"]["after"] if plain else None
    with_labels = labelled["road_iou_labelled"]["after"] if labelled else None
    zero = scored(ZERO_SHOT, held)
    agree = plain["agreement_with_teacher"] if plain else None
    agreement = f"{agree['before']:.4f} → {agree['after']:.4f}" if agree else "—"
    served = "/".join(s["served"].upper() for s in (plain, labelled) if s) or "—"
    adapted = cell(after, start), cell(with_labels, start)
    cells = (held, cell(tuned), cell(start), *adapted, cell(zero), served, agreement)
    print("| " + " | ".join(cells) + " |")
    record[held] = {
        "kitti_only_as_fine_tuned": tuned,
        "start_kitti_only_alpha_0.75": start,
        "adapted_no_labels": after,
        "adapted_20_labels": with_labels,
        "zero_shot": zero,
        "agreement_with_teacher_no_labels": agree,
        "summaries": {"no_labels": plain, "labels20": labelled},
    }
if "--json" in sys.argv:
    Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(record, indent=2))
