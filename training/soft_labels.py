"""Soft labels: teachers' road probabilities on unlabelled frames, which a student trains on (``--mix
soft:SOFT:SHARE``); the library behind ``python -m training.distill`` and ``training.adapt``.

The teacher runs through the node's own core (preprocess, ONNX Runtime, bilinear resize back to the frame), and
several teachers are averaged. ``SOFT/labels/NAME.png`` holds the probability x 255 at the frame's size;
``SOFT/teacher.json`` names the frames folder, every teacher, and what each teacher was trained on, so a
cross-validation run can prove that no fold's teacher saw that fold's labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import RoadSegError
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


def teacher_probability(teacher: Segmenter, rgb: np.ndarray, flip: bool = False) -> np.ndarray:
    """One teacher's road probability at the frame's size; ``flip``: the mean of the frame's answer and its mirror
    image's answer mirrored back (a road is a road in a mirror; the two answers' errors differ)."""
    probability = resize_probability(teacher.probability(rgb), rgb.shape[:2]).copy()
    if flip:
        mirrored = resize_probability(teacher.probability(np.ascontiguousarray(rgb[:, ::-1])), rgb.shape[:2])
        probability = 0.5 * (probability + mirrored[:, ::-1])
    return probability


def soft_probability(
    teachers: list[Segmenter], rgb: np.ndarray, combine: str = "mean", flip: bool = False
) -> tuple[np.ndarray, int]:
    """The teachers' road probability at the frame's size (each teacher runs at its own input size, its answer
    resized to the frame) and which teacher spoke (-1: all, averaged). ``confident``: the teacher whose map is
    most certain on this frame speaks alone. ``flip``: each teacher also sees the mirrored frame."""
    maps = [teacher_probability(teacher, rgb, flip) for teacher in teachers]
    if combine == "confident" and len(maps) > 1:
        chosen = int(np.argmin([mean_entropy(m) for m in maps]))
        return maps[chosen], chosen
    return np.mean(maps, axis=0).astype(np.float32), -1


def distill(
    teacher_paths: list[Path], frames: Path, out: Path, combine: str = "mean", progress: bool = True, flip: bool = False
) -> dict:
    """Soft labels of every frame in ``frames`` into ``out`` and the manifest naming frames, teachers and how they
    were combined."""
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
        probability, chosen = soft_probability(teachers, read_rgb_file(path), combine, flip)
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
        "flip": flip,
        "frames_per_teacher": spoke if combine == "confident" else None,
    }
    (out / SOFT_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest
