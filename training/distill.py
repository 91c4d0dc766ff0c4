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


def soft_probability(teachers: list[Segmenter], rgb: np.ndarray) -> np.ndarray:
    """Mean of the teachers' road probabilities at the frame's size."""
    total = np.zeros(rgb.shape[:2], np.float32)
    for teacher in teachers:
        total += resize_probability(teacher.probability(rgb), rgb.shape[:2])
    return total / len(teachers)


def distill(teacher_paths: list[Path], frames: Path, out: Path) -> dict:
    if not frames.is_dir():
        raise RoadSegError(f"frames folder '{frames}' does not exist")
    images = sorted(p for p in frames.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise RoadSegError(f"frames folder '{frames}' holds no PNG/JPG images")
    teachers = [Segmenter(path, providers="cpu", warmup=False) for path in teacher_paths]
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for path in images:
        probability = soft_probability(teachers, read_rgb_file(path))
        label = np.clip(np.rint(probability * 255.0), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(out / "labels" / f"{path.stem}.png"), label):
            raise RoadSegError(f"cannot write '{out / 'labels' / (path.stem + '.png')}'")
    manifest = {
        "frames": str(frames.resolve()),
        "names": [p.stem for p in images],
        "teachers": [teacher_record(t) for t in teachers],
    }
    (out / SOFT_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


@exit_codes("training.distill")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distill", description=__doc__)
    parser.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher ONNX models (averaged)")
    parser.add_argument("--frames", type=Path, required=True, help="folder of unlabelled frames")
    parser.add_argument("--out", type=Path, required=True, help="soft-label folder")
    args = parser.parse_args(argv)
    manifest = distill(args.teacher, args.frames, args.out)
    print(f"wrote {len(manifest['names'])} soft labels from {len(manifest['teachers'])} teacher(s) to '{args.out}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
