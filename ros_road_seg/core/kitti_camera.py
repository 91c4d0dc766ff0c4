"""The KITTI left colour camera (camera 02) as the KITTI frames in this package need it: intrinsics and mounting.

Rectified 2011_09_26 calibration (Geiger et al., IJRR 2013): fx = fy = 721.5377, cx = 609.5593, cy = 172.854 at
1242x375; the camera sits about 1.65 m above the road, level. The labelled frames here are bottom-right crops of
such frames (1224x370: 18 columns cut on the left, 5 rows on top), so the principal point moves by the crop.
Other KITTI drives were calibrated on other days: give their calib_cam_to_cam.txt instead (``kitti_to_bag --calib``).
"""

from __future__ import annotations

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.ground_grid import Intrinsics, Mounting

FULL = Intrinsics(fx=721.5377, fy=721.5377, cx=609.5593, cy=172.854, width=1242, height=375)
MOUNTING = Mounting(height=1.65, pitch=0.0, roll=0.0, yaw=0.0, x=0.0, y=0.0)


def cropped_intrinsics(width: int, height: int) -> Intrinsics:
    """Intrinsics of a bottom-right ``width`` x ``height`` crop of the 1242x375 frame (the full frame itself too)."""
    if not (0 < width <= FULL.width and 0 < height <= FULL.height):
        raise RoadSegError(
            f"a {width}x{height} frame is not a crop of KITTI's {FULL.width}x{FULL.height}: give its calibration"
        )
    left, top = FULL.width - width, FULL.height - height
    return Intrinsics(FULL.fx, FULL.fy, FULL.cx - left, FULL.cy - top, width, height)
