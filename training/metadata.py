"""``python -m training.metadata MODEL.onnx [KEY=VALUE ...]``: show a model's ``road_seg.*`` metadata, or set keys
(``fp16_sibling=...`` on a shipped FP32 default, so GPU providers run its FP16 twin)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_road_seg.core.errors import UsageError, exit_codes
from ros_road_seg.core.model import METADATA_PREFIX
from training.onnx_export import read_metadata, write_metadata


@exit_codes("training.metadata")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.metadata", description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("assignments", nargs="*", metavar="KEY=VALUE", help="road_seg.KEY to set")
    args = parser.parse_args(argv)
    metadata = read_metadata(args.model)
    if args.assignments:
        for assignment in args.assignments:
            key, sep, value = assignment.partition("=")
            if not sep or not key:
                raise UsageError(f"'{assignment}' is not KEY=VALUE")
            metadata[METADATA_PREFIX + key.removeprefix(METADATA_PREFIX)] = value
        write_metadata(args.model, metadata)
    for key, value in sorted(metadata.items()):
        print(f"{key} = {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
