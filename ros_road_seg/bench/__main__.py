"""``python -m ros_road_seg.bench``."""

import sys

from ros_road_seg.bench.cli import main

sys.exit(main())
