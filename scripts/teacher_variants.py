"""How the zero-shot teachers are best asked (issue 25): each Intel teacher (192x608, 384x1216) alone, the more certain
of the two per frame, their mean, and each of these also on the mirrored frame (``training.soft_labels``, the
library that makes the soft labels), scored through the core's scoring (road IoU pooled, probability > 0.5, the
frame's full size) on the 32 labelled KITTI frames (the selection set: no frame of a CamVid rotation) and on every
frame of each CamVid sequence (what a student of that teacher can at best reach there).
Usage (from the folder holding runs/): teacher_variants.py [--json F]. Computed once into
runs/keep/teacher_variants.json; exits non-zero when the teachers are missing (bash scripts/keep_teachers.sh)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEEP = Path("runs/keep")
TEACHERS = (KEEP / "intel_road_192x608.onnx", KEEP / "intel_road_384x1216.onnx")
CACHE = KEEP / "teacher_variants.json"
KITTI, CAMVID = Path("../shared/data/kitti_semantics"), Path("../shared/data/camvid")
SEQUENCES = ("0001TP", "0006R0", "0016E5")
VARIANTS = {  # name: (teachers by index, combine)
    "192x608": ((0,), "mean"),
    "384x1216": ((1,), "mean"),
    "the more certain per frame": ((0, 1), "confident"),
    "mean of the two": ((0, 1), "mean"),
}


def compute() -> dict:
    from ros_road_seg.core.image_files import read_rgb_file
    from ros_road_seg.core.labels import read_label, road_masks
    from ros_road_seg.core.progress import with_progress
    from ros_road_seg.core.scoring import frame_mask, iou_counts, pooled_iou
    from ros_road_seg.core.segmenter import Segmenter
    from training.data import layout
    from training.soft_labels import soft_probability

    teachers = [Segmenter(path, providers="cpu", warmup=False) for path in TEACHERS]
    samples = [("KITTI (32 frames)", s) for s in layout("kitti").frames(KITTI)]
    samples += [(s.name[:6], s) for s in layout("camvid").frames(CAMVID)]
    counts: dict[str, dict[str, list]] = {}
    for group, sample in with_progress(samples, len(samples), "frames scored"):
        rgb = read_rgb_file(sample.image_path)
        road, valid = road_masks(read_label(sample.label_path), sample.dataset)
        for name, (chosen, combine) in VARIANTS.items():
            for flip in (False, True):
                probability, _ = soft_probability([teachers[i] for i in chosen], rgb, combine, flip)
                key = name + (", with the mirror" if flip else "")
                mask = frame_mask(probability, rgb.shape[:2], 0.5) > 0  # the node's mask rule, as every score here
                counts.setdefault(key, {}).setdefault(group, []).append(iou_counts(mask, road, valid))
    return {variant: {group: pooled_iou(c) for group, c in groups.items()} for variant, groups in counts.items()}


if not all(path.is_file() for path in TEACHERS):
    sys.exit("teacher_variants: the teachers are not under runs/keep (bash scripts/keep_teachers.sh)")
if not CACHE.is_file():
    CACHE.write_text(json.dumps(compute(), indent=2))
scores = json.loads(CACHE.read_text())
groups = ["KITTI (32 frames)", *SEQUENCES]
print("| teachers (road IoU, all frames) | " + " | ".join(groups) + " |")
print("|---|" + "---|" * len(groups))
for variant, by_group in scores.items():
    print(f"| {variant} | " + " | ".join(f"{by_group[g]:.4f}" for g in groups) + " |")
if "--json" in sys.argv:
    Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(scores, indent=2))
