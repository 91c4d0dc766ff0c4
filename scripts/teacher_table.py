"""Teacher sizes and how two teachers are combined (issue 24), on CamVid's train frames (road IoU pooled per sequence,
full resolution): the zero-shot network at 192x608 and at 384x1216 (training.evaluate JSON in runs/keep/teachers/),
and the soft labels `training.distill --combine confident` wrote from the two (runs/keep/soft_camvid_train),
thresholded at 0.5 and scored here through the core's scoring."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ros_road_seg.core.labels import read_label, road_masks  # noqa: E402
from ros_road_seg.core.scoring import iou_counts, pooled_iou  # noqa: E402

CAMVID = Path("../shared/data/camvid")
SOFT = Path("runs/keep/soft_camvid_train")
SEQUENCES = ("0001TP", "0006R0", "0016E5")
if not (SOFT / "teacher.json").is_file() or not Path("runs/keep/teachers").is_dir():
    sys.exit("teacher_table: no teacher runs under runs/keep (bash scripts/keep_tradeoff.sh)")


def from_eval(model: str) -> dict:
    rows = json.loads((Path("runs/keep/teachers") / model / "eval_camvid_train.json").read_text())["per_image"]
    return {
        seq: pooled_iou([(r["intersection"], r["union"]) for r in rows if r["name"].startswith(seq)])
        for seq in SEQUENCES
    }


def confident() -> dict:
    counts = {seq: [] for seq in SEQUENCES}
    manifest = json.loads((SOFT / "teacher.json").read_text())
    for name in manifest["names"]:
        road, valid = road_masks(read_label(CAMVID / "trainannot" / f"{name}.png"), "camvid")
        soft = road_masks(read_label(SOFT / "labels" / f"{name}.png"), "soft")[0] > 0.5
        counts[name[:6]].append(iou_counts(soft, road, valid))
    return {seq: pooled_iou(c) for seq, c in counts.items()}, manifest.get("frames_per_teacher")


print("| teacher on CamVid train frames | " + " | ".join(SEQUENCES) + " |")
print("|---|---|---|---|")
for model in ("intel_road_192x608", "intel_road_384x1216"):
    scores = from_eval(model)
    print(f"| {model} (zero-shot) | " + " | ".join(f"{scores[s]:.4f}" for s in SEQUENCES) + " |")
scores, spoke = confident()
print(
    f"| the more certain of the two per frame (frames per teacher {spoke}) | "
    + " | ".join(f"{scores[s]:.4f}" for s in SEQUENCES)
    + " |"
)
