"""``python -m training.distill --teacher MODEL.onnx --frames DIR --out SOFT``: a teacher's road probabilities on
unlabelled frames, as soft labels a student trains on (``--mix soft:SOFT:SHARE``).

The teacher runs through the node's own core (preprocess, ONNX Runtime, bilinear resize back to the frame), and
several teachers are averaged. ``SOFT/labels/NAME.png`` holds the probability x 255 at the frame's size;
``SOFT/teacher.json`` names the frames folder, every teacher, and what each teacher was trained on, so a
cross-validation run can prove that no fold's teacher saw that fold's labels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import RoadSegError, exit_codes
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.core.progress import with_progress
from ros_road_seg.core.segmenter import Segmenter, resize_probability
from training.data import SOFT_MANIFEST


def teacher_record(segmenter: Segmenter) -> dict:
    """What a teacher is and what it learnt from (its ``road_seg.*`` metadata)."""
    meta = segmenter.info.metadata
    return {
        "model": segmenter.model_path,
        "architecture": meta.get("road_seg.architecture", "unknown"),
        "train_frames": meta.get("road_seg.train_frames", ""),
        "trained_on_names": meta.get("road_seg.trained_on_names", ""),
        "source": meta.get("road_seg.source", ""),
    }


COMBINE_CHOICES = ("mean", "confident")


def mean_entropy(probability: np.ndarray) -> float:
    """Mean binary entropy (bits) of a probability map: 0 where a teacher is sure, 1 where it guesses."""
    p = np.clip(probability.astype(np.float64), 1e-6, 1 - 1e-6)
    return float(np.mean(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def soft_probability(teachers: list[Segmenter], rgb: np.ndarray, combine: str = "mean") -> tuple[np.ndarray, int]:
    """The teachers' road probability at the frame's size (each teacher runs at its own input size, its answer
    resized to the frame) and which teacher spoke (-1: all, averaged). ``confident``: the teacher whose map is
    most certain on this frame speaks alone; averaging two teachers only interpolates between them."""
    maps = [resize_probability(teacher.probability(rgb), rgb.shape[:2]).copy() for teacher in teachers]
    if combine == "confident" and len(maps) > 1:
        chosen = int(np.argmin([mean_entropy(m) for m in maps]))
        return maps[chosen], chosen
    return np.mean(maps, axis=0).astype(np.float32), -1


def distill(teacher_paths: list[Path], frames: Path, out: Path, combine: str = "mean", progress: bool = True) -> dict:
    """Soft labels of every frame in ``frames`` into ``out`` and the manifest naming frames and teachers."""
    if not frames.is_dir():
        raise RoadSegError(f"frames folder '{frames}' does not exist")
    images = sorted(p for p in frames.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise RoadSegError(f"frames folder '{frames}' holds no PNG/JPG images")
    teachers = [Segmenter(path, providers="cpu", warmup=False) for path in teacher_paths]
    if combine not in COMBINE_CHOICES:
        raise RoadSegError(f"combine '{combine}' is not one of {', '.join(COMBINE_CHOICES)}")
    (out / "labels").mkdir(parents=True, exist_ok=True)
    spoke = [0] * len(teachers)
    for path in with_progress(images, len(images), "soft labels", progress):
        target = out / "labels" / f"{path.stem}.png"
        probability, chosen = soft_probability(teachers, read_rgb_file(path), combine)
        if chosen >= 0:
            spoke[chosen] += 1
        label = np.clip(np.rint(probability * 255.0), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(target), label):
            raise RoadSegError(f"cannot write '{target}'")
    manifest = {
        "frames": str(frames.resolve()),
        "names": [p.stem for p in images],
        "teachers": [teacher_record(t) for t in teachers],
        "combine": combine,
        "frames_per_teacher": spoke if combine == "confident" else None,
    }
    (out / SOFT_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


@exit_codes("training.distill")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distill", description=__doc__)
    parser.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher ONNX models (averaged)")
    parser.add_argument("--frames", type=Path, required=True, help="folder of unlabelled frames")
    parser.add_argument("--out", type=Path, required=True, help="soft-label folder")
    parser.add_argument(
        "--combine",
        choices=COMBINE_CHOICES,
        default="mean",
        help="several teachers: average them, or let the most certain one speak per frame",
    )
    args = parser.parse_args(argv)
    manifest = distill(args.teacher, args.frames, args.out, args.combine)
    print(f"wrote {len(manifest['names'])} soft labels from {len(manifest['teachers'])} teacher(s) to '{args.out}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
