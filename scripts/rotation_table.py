"""The CamVid rotation table (issue 25) from runs/rotation/<held-out sequence>/{no_labels,labels20}/adapt_summary.json:
road IoU on every frame of the held-out sequence before (the KITTI-only start) and after adaptation, beside the
zero-shot Intel network on the same frames (runs/keep/camvid_zero_shot, when scored)."""

import json
import sys
from pathlib import Path

ROOT = Path("runs/rotation")
ZERO_SHOT = Path("runs/keep/camvid_zero_shot")
if not ROOT.is_dir():
    sys.exit(f"rotation_table: no adaptation runs under {ROOT} (bash scripts/camvid_rotation.sh)")


def summary(held: str, variant: str) -> dict | None:
    path = ROOT / held / variant / "adapt_summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def cell(value) -> str:
    return "—" if value is None else f"{value:.4f}"


print("| held-out sequence (all frames) | start: KITTI-only | adapted, no labels | adapted, 20 labels | zero-shot Intel "
      "| agreement with teacher (held-back frames) before → after, no labels |")  # fmt: skip
print("|---|---|---|---|---|---|")
for held in ("0001TP", "0006R0", "0016E5"):
    plain, labelled = summary(held, "no_labels"), summary(held, "labels20")
    start = plain["road_iou_labelled"]["before"] if plain else None
    after = plain["road_iou_labelled"]["after"] if plain else None
    with_labels = labelled["road_iou_labelled"]["after"] if labelled else None
    zero_path = ZERO_SHOT / held / "eval_camvid_all.json"
    zero = json.loads(zero_path.read_text())["pooled_iou_full"] if zero_path.is_file() else None
    agree = plain["agreement_with_teacher"] if plain else None
    agreement = f"{agree['before']:.4f} → {agree['after']:.4f}" if agree else "—"
    print(f"| {held} | {cell(start)} | {cell(after)} | {cell(with_labels)} | {cell(zero)} | {agreement} |")
