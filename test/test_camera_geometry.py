"""The road grid's camera model from CameraInfo, as image_geometry reads it: rectified frames with P (not K), a crop
(``roi``) by moving the principal point, each checked against a projection computed by hand, and depth data refused
in compressed formats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage

from ros_road_seg.core.errors import ImageConversionError, RoadSegError
from ros_road_seg.core.ground_grid import FREE, OCCUPIED, GridSpec, GroundProjector, Mounting
from ros_road_seg.core.image_conversion import compressed_msg_to_rgb
from ros_road_seg.node.serving_grid import camera_info_intrinsics

# KITTI's calib_cam_to_cam.txt: K_02 (the raw camera) and P_rect_02 (the rectified frames)
K_RAW = [959.791, 0.0, 696.0217, 0.0, 956.9251, 224.1806, 0.0, 0.0, 1.0]
P_RECT = [721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791, 0.0, 0.0, 1.0, 0.002745884]
HEIGHT = 1.65
SPEC = GridSpec(resolution=0.5, length=40.0, width=10.0, max_range=40.0)
LEVEL = Mounting(height=HEIGHT)


def kitti_info(roi: tuple[int, int, int, int] | None = None) -> CameraInfo:
    msg = CameraInfo()
    msg.width, msg.height = 1242, 375
    msg.k, msg.p = K_RAW, P_RECT
    if roi is not None:
        msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = roi
    return msg


def by_hand(fx: float, fy: float, cx: float, cy: float, x: float, y: float) -> tuple[int, int]:
    """Pixel (u, v) of the ground point (x forward, y left) for a level camera HEIGHT above the ground."""
    return round(cx - fx * y / x), round(cy + fy * HEIGHT / x)


def road_only_at(pixel: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    u, v = pixel
    mask[v, u] = 255
    return mask


# a cell centre: column 40 (x = 20.25 m), row 10 (y = 0.25 m)
ROW, COLUMN = 10, 40
X, Y = 0.25 + 0.5 * COLUMN, -5.0 + 0.25 + 0.5 * ROW


@pytest.mark.parametrize("matrix", ["P", "K"])
def test_the_grid_projects_with_the_chosen_matrix(matrix):
    """Before: K always, so KITTI's rectified frames were projected with the raw camera (22.4 % of cells wrong)."""
    intrinsics = camera_info_intrinsics(kitti_info(), matrix=matrix)
    p, k = P_RECT, K_RAW
    expected = by_hand(p[0], p[5], p[2], p[6], X, Y) if matrix == "P" else by_hand(k[0], k[4], k[2], k[5], X, Y)
    other = by_hand(k[0], k[4], k[2], k[5], X, Y) if matrix == "P" else by_hand(p[0], p[5], p[2], p[6], X, Y)
    assert expected != other  # the two matrices put this cell on different pixels
    grid = GroundProjector(intrinsics, LEVEL, SPEC).project(road_only_at(expected, (375, 1242)))
    assert grid[ROW, COLUMN] == FREE
    grid = GroundProjector(intrinsics, LEVEL, SPEC).project(road_only_at(other, (375, 1242)))
    assert grid[ROW, COLUMN] == OCCUPIED


def test_an_all_zero_p_falls_back_to_k():
    msg = kitti_info()
    msg.p = [0.0] * 12
    assert camera_info_intrinsics(msg).fx == pytest.approx(K_RAW[0])


def test_a_crop_moves_the_principal_point_instead_of_scaling():
    """Before: frames cut to roi were treated as the whole image scaled down (44.5 % of cells wrong)."""
    roi = (200, 100, 800, 250)  # x_offset, y_offset, width, height
    intrinsics = camera_info_intrinsics(kitti_info(roi))
    assert (intrinsics.width, intrinsics.height) == (800, 250)
    p = P_RECT
    expected = by_hand(p[0], p[5], p[2] - roi[0], p[6] - roi[1], X, Y)
    grid = GroundProjector(intrinsics, LEVEL, SPEC).project(road_only_at(expected, (250, 800)))
    assert grid[ROW, COLUMN] == FREE


def test_a_roi_outside_the_image_is_named():
    with pytest.raises(RoadSegError, match="roi"):
        camera_info_intrinsics(kitti_info((1000, 0, 800, 375)))


def test_a_grid_too_big_for_memory_is_refused_with_its_size():
    """Before: each parameter in range, 25 M cells together: 2.95 GB at start, no warning."""
    intrinsics = camera_info_intrinsics(kitti_info())
    with pytest.raises(RoadSegError, match="cells"):
        GroundProjector(intrinsics, LEVEL, GridSpec(resolution=0.1, length=500.0, width=500.0))


@pytest.mark.parametrize("image_format", ["16UC1; png compressed 16UC1", "32FC1; compressedDepth png", "8UC1; png"])
def test_depth_in_a_compressed_format_is_refused(image_format):
    """Before: a 16-bit depth PNG was segmented as a camera frame (70 % road); the raw 16UC1 was already refused."""
    msg = CompressedImage()
    msg.format = image_format
    msg.data = cv2.imencode(".png", np.full((20, 30), 4000, np.uint16))[1].tobytes()
    with pytest.raises(ImageConversionError, match="not a camera image"):
        compressed_msg_to_rgb(msg)


def test_camera_formats_still_decode():
    msg = CompressedImage()
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))[1].tobytes()
    assert compressed_msg_to_rgb(msg).shape == (20, 30, 3)
