"""``python -m training.adapt``: adapt a road model to your camera from your frames (a folder or a recorded bag),
without labels, or with a few. Stages, each resumable: frames -> soft labels (the zero-shot teachers) -> fine-tune
(keep term) -> FP32 / INT8 / FP16 -> summary (before/after, and the ``ros2 launch`` line to run it).

    python -m training.adapt --bag my_drive --topic /camera/image_rect_color --out runs/adapt_my_camera
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import UsageError, exit_codes
from ros_road_seg.core.paths import share_directory
from training.adaptation import ALPHA_GRID, Adaptation, adapt
from training.data import DATASETS, add_folder_label_arguments, apply_folder_labels, parse_mix
from training.soft_labels import COMBINE_CHOICES
from training.weight_space import SHIPPED_ORIGINS, SHIPPED_START, TOWARD


def alpha_or_auto(text: str) -> float | None:
    """``--alpha``: a number in [0, 1], or ``auto`` (None: chosen on your labelled frames)."""
    return None if text == "auto" else bounded_number(0.0, 1.0)(text)


@exit_codes("training.adapt")
def main(argv: list[str] | None = None) -> int:
    models = share_directory() / "models"
    parser = argparse.ArgumentParser(prog="python -m training.adapt", description=__doc__)
    parser.add_argument("--frames", type=Path, default=None, help="a folder of your camera's frames")
    parser.add_argument("--bag", type=Path, default=None, help="or a rosbag2 (sqlite3 / MCAP) with --topic")
    parser.add_argument("--topic", default=None, help="the Image or CompressedImage topic in --bag")
    parser.add_argument("--hz", type=bounded_number(0.0, 100.0, above=True), default=2.0, help="frames/s from --bag")
    parser.add_argument("--out", type=Path, required=True, help="the adaptation folder (resumable)")
    parser.add_argument(
        "--start",
        type=Path,
        default=models / SHIPPED_START,
        help="the .keras to adapt (default: the shipped default's weights)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        nargs="+",
        default=[models / "intel_road_192x608.onnx", models / "intel_road_384x1216.onnx"],
        help="zero-shot teachers (default: the Intel network as it comes at 192x608 and at 384x1216)",
    )
    parser.add_argument(
        "--teacher-combine",
        choices=COMBINE_CHOICES,
        default="mean",
        help="several teachers: their mean, or the most certain one per frame",
    )
    parser.add_argument(
        "--no-teacher-flip", action="store_true", help="teachers answer on the frame only, not also on its mirror"
    )
    parser.add_argument("--labelled", type=Path, default=None, help="a few labelled frames to train on too")
    parser.add_argument("--labelled-dataset", choices=DATASETS, default="kitti")
    parser.add_argument(
        "--labelled-repeat",
        type=bounded_number(1, 100, integer=True),
        default=4,
        help="each labelled frame this often per epoch",
    )
    parser.add_argument("--evaluate-on", type=Path, default=None, help="labelled frames never trained on")
    parser.add_argument("--evaluate-dataset", choices=DATASETS, default="kitti")
    add_folder_label_arguments(parser)
    parser.add_argument("--evaluate-only", nargs="+", default=[], metavar="PATTERN", help="score only these names")
    parser.add_argument(
        "--input-size",
        type=bounded_number(32, 2048, integer=True),
        nargs=2,
        default=None,
        help="train and serve at this size (default: the start model's own)",
    )
    parser.add_argument("--epochs", type=bounded_number(1, 1000, integer=True), default=8)
    parser.add_argument("--lr", type=bounded_number(0.0, 1.0, above=True), default=1e-4)
    parser.add_argument("--l2-sp", type=bounded_number(0.0, 1.0), default=1e-3, help="keep term: pull to the start")
    parser.add_argument(
        "--replay",
        type=parse_mix,
        action="append",
        default=[],
        metavar="DATASET:PATH:SHARE",
        help="keep term: the start's own labelled frames in every epoch, e.g. kitti:../shared/data/kitti_semantics:0.3",
    )
    parser.add_argument(
        "--alpha",
        type=alpha_or_auto,
        default=0.75,
        help="keep term (WiSE-FT): (1 - ALPHA) x what --toward names + ALPHA x the fine-tuned weights; 1 = not moved; "
        f"auto: the best of {' '.join(f'{a:g}' for a in ALPHA_GRID)} on the --evaluate-on frames",
    )
    parser.add_argument(
        "--toward",
        default="origin",
        metavar="|".join([*TOWARD, "MODEL"]),
        help="what --alpha moves back toward: the start, the pretrained network at the root of the start's chain "
        "of runs (default; for the shipped start the Intel network as it comes, "
        f"models/{SHIPPED_ORIGINS[SHIPPED_START]}), or a .keras of the same architecture",
    )
    parser.add_argument("--seed", type=bounded_number(0, 2**31 - 1, integer=True), default=0, help="fine-tune seed")
    args = parser.parse_args(argv)
    apply_folder_labels(args.road_id, args.ignore_id)
    if (args.frames is None) == (args.bag is None) or (args.bag is not None and not args.topic):
        raise UsageError("give --frames DIR, or --bag BAG with --topic TOPIC")
    plan = Adaptation(
        out=args.out,
        start=args.start,
        teachers=tuple(args.teacher),
        combine=args.teacher_combine,
        flip=not args.no_teacher_flip,
        frames=args.frames,
        bag=args.bag,
        topic=args.topic,
        hz=args.hz,
        labelled=args.labelled,
        labelled_dataset=args.labelled_dataset,
        labelled_repeat=args.labelled_repeat,
        evaluate_on=args.evaluate_on,
        evaluate_dataset=args.evaluate_dataset,
        evaluate_only=tuple(args.evaluate_only),
        road_id=args.road_id,
        ignore_id=args.ignore_id,
        input_size=tuple(args.input_size) if args.input_size else None,
        epochs=args.epochs,
        lr=args.lr,
        l2_sp=args.l2_sp,
        replay=tuple(args.replay),
        alpha=args.alpha,
        toward=args.toward,
        seed=args.seed,
    )
    result = adapt(plan)
    before, after = result["agreement_with_teacher"]["before"], result["agreement_with_teacher"]["after"]
    print(
        f"agreement with the teacher on {len(result['held_back_frames'])} held-back frames: {before:.4f} -> {after:.4f}"
    )
    if "road_iou_labelled" in result:
        iou = result["road_iou_labelled"]
        which = "also trained on" if iou["also_trained_on"] else "never trained on"
        chose = " (they chose alpha: the 'after' is optimistic)" if "wise_ft_alpha_choice" in result else ""
        print(f"road IoU on the labelled frames {which}{chose}: {iou['before']:.4f} -> {iou['after']:.4f}")
        teachers = ", ".join(f"{Path(name).name} {value:.4f}" for name, value in iou["teachers"].items())
        print(f"  the teachers as they come, on the same frames: {teachers}")
    stages = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in result["seconds_per_stage"].items())
    print(f"time: {stages}")
    print(f"run it:\n  {result['launch']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
