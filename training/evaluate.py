"""``python -m training.evaluate MODEL``: road IoU per image, their mean and the pooled IoU (all frames' pixels
together), at the label's full resolution (what a user of the node sees), at the model's input size (what the
course reports), and the ceiling of that input size.

MODEL is a ``.keras`` file, a run folder or an ``.onnx`` file. Either way the frame goes through
``ros_road_seg.core.segmenter`` (preprocess, resize back, threshold): the node's own code, at the threshold the node
would use (an ONNX model's own ``road_seg.threshold``) unless ``--threshold`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import exit_codes
from training.data import DATASETS, add_folder_label_arguments, apply_folder_labels
from training.evaluation import evaluate, load_probability_fn, markdown_table, select_samples


@exit_codes("training.evaluate")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("model", type=Path, help=".onnx, .keras or a run folder (its best.keras)")
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--data", type=Path, required=True)
    add_folder_label_arguments(parser)
    parser.add_argument("--split", choices=("val", "train", "all"), default="val")
    parser.add_argument("--val", type=bounded_number(0.0), default=30, help="KITTI validation count or fraction")
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="PATTERN", help="score only frames whose name matches (0006R0_*)"
    )
    parser.add_argument(
        "--threshold", type=bounded_number(0.0, 1.0), default=None, help="default: the model's own (ONNX metadata)"
    )
    parser.add_argument(
        "--birds-eye", action="store_true", help="KITTI: also score on the ground grid (the node's road_grid)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for eval.json and eval.md")
    args = parser.parse_args(argv)
    apply_folder_labels(args.road_id, args.ignore_id)
    probability_fn, input_size, description = load_probability_fn(args.model)
    samples = select_samples(args.dataset, args.data, args.split, args.val, args.only)
    threshold = description["threshold"] if args.threshold is None else args.threshold
    result = evaluate(probability_fn, input_size, samples, threshold, birds_eye=args.birds_eye, progress=True)
    result.update(model=str(args.model), dataset=args.dataset, split=args.split, **{"model_info": description})
    table = markdown_table(result, f"{args.model} on {args.dataset} {args.split}")
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"eval_{args.dataset}_{args.split}"
        (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
        (args.out / f"{stem}.md").write_text(table)
        print(f"wrote {args.out / (stem + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
