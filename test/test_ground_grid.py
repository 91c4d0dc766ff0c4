"""The drivable-area grid against scenes rendered here, independently of the projector's own geometry.

The oracle renders a road mask by casting one ray per pixel from a look-at camera (cross products, no Euler
matrices), then rasterises the same road analytically on the grid; the projector must agree on every visible cell.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.ground_grid import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    GridSpec,
    GroundProjector,
    Intrinsics,
    Mounting,
    check_intrinsics,
)

CAMERA = Intrinsics(fx=700.0, fy=700.0, cx=615.0, cy=185.0, width=1240, height=375)


def camera_axes(mounting: Mounting) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, down) unit vectors in the grid frame, built from the angles' definitions: yaw turns the
    view left, pitch tilts it down, roll turns the camera's left side up about its forward axis."""
    forward = np.array(
        [
            math.cos(mounting.yaw) * math.cos(mounting.pitch),
            math.sin(mounting.yaw) * math.cos(mounting.pitch),
            -math.sin(mounting.pitch),
        ]
    )
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rolled_right = math.cos(mounting.roll) * right + math.sin(mounting.roll) * down
    rolled_down = -math.sin(mounting.roll) * right + math.cos(mounting.roll) * down
    return forward, rolled_right, rolled_down


def ground_hits(camera: Intrinsics, mounting: Mounting) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, hits) where each pixel's ray meets the ground; ``hits`` is False above the horizon."""
    forward, right, down = camera_axes(mounting)
    u, v = np.meshgrid(np.arange(camera.width, dtype=float), np.arange(camera.height, dtype=float))
    rays = (
        forward[None, None, :]
        + ((u - camera.cx) / camera.fx)[..., None] * right
        + ((v - camera.cy) / camera.fy)[..., None] * down
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -mounting.height / rays[..., 2]
    hits = t > 0
    t = np.where(hits, t, 0.0)
    x = np.where(hits, mounting.x + t * rays[..., 0], 1e9)
    y = np.where(hits, mounting.y + t * rays[..., 1], 1e9)
    return x, y, hits


STRAIGHT = {"offset": 1.2, "width": 7.0}


def on_road(x: np.ndarray, y: np.ndarray, scene: str) -> np.ndarray:
    if scene == "straight":
        return np.abs(y - STRAIGHT["offset"]) <= STRAIGHT["width"] / 2
    with np.errstate(invalid="ignore", over="ignore"):  # rays grazing the horizon land at inf: never on the road
        centre = 0.5 + 0.012 * x**2  # a road bending left
        return np.abs(y - centre) <= 3.5


MOUNTINGS = {
    "level KITTI-like": Mounting(height=1.65),
    "pitched, rolled, turned, offset": Mounting(height=1.4, pitch=0.06, roll=0.02, yaw=0.05, x=1.1, y=-0.3),
}


@pytest.mark.parametrize("scene", ["straight", "curve"])
@pytest.mark.parametrize("mounting_name", MOUNTINGS)
def test_grid_matches_the_rendered_scene(scene, mounting_name):
    mounting = MOUNTINGS[mounting_name]
    spec = GridSpec(resolution=0.1, length=40.0, width=30.0, max_range=40.0)
    x, y, hits = ground_hits(CAMERA, mounting)
    mask = np.where(hits & on_road(x, y, scene), 255, 0).astype(np.uint8)
    grid = GroundProjector(CAMERA, mounting, spec).project(mask)

    xs, ys = spec.cell_centres()
    truth = on_road(xs, ys, scene)
    visible = grid != UNKNOWN
    assert visible.mean() > 0.2, "the camera should see a good part of the grid"
    road = grid == FREE
    intersection = np.count_nonzero(road & truth & visible)
    union = np.count_nonzero((road | truth) & visible)
    iou = intersection / union
    assert iou >= 0.95, f"{scene}, {mounting_name}: grid IoU {iou:.4f} over visible cells"

    checked = 0
    for column in range(spec.columns):
        if xs[0, column] > 20.0:
            break
        seen = visible[:, column]
        truth_rows = np.flatnonzero(truth[:, column] & seen)
        grid_rows = np.flatnonzero(road[:, column] & seen)
        if truth_rows.size < 3 or not seen[truth_rows].all():
            continue
        interior = seen[max(0, truth_rows[0] - 2) : truth_rows[-1] + 3].all()
        if not interior:  # an edge outside the field of view cannot be compared
            continue
        assert grid_rows.size, f"column x={xs[0, column]:.2f}: no road found"
        assert abs(grid_rows[0] - truth_rows[0]) <= 1 and abs(grid_rows[-1] - truth_rows[-1]) <= 1, (
            f"{scene}, {mounting_name}: road edges at x={xs[0, column]:.2f} m off by more than one cell "
            f"(grid rows {grid_rows[0]}..{grid_rows[-1]}, truth {truth_rows[0]}..{truth_rows[-1]})"
        )
        checked += 1
    assert checked > 50, f"only {checked} columns up to 20 m could be compared"


def test_unknown_where_no_pixel_sees_and_beyond_range():
    mounting = Mounting(height=1.65)
    spec = GridSpec(resolution=0.5, length=60.0, width=40.0, origin_x=-10.0, max_range=30.0)
    projector = GroundProjector(CAMERA, mounting, spec)
    grid = projector.project(np.full((CAMERA.height, CAMERA.width), 255, np.uint8))
    xs, ys = spec.cell_centres()
    assert (grid[xs < 0] == UNKNOWN).all(), "cells behind the camera cannot be seen"
    assert (grid[np.hypot(xs, ys) > 30.0] == UNKNOWN).all(), "cells beyond max_range are unknown"
    # far to the side, outside the horizontal field of view (half-angle atan(615/700) ~ 41 degrees)
    assert (grid[(np.abs(ys) > 1.5 * xs) & (xs > 0)] == UNKNOWN).all()
    assert set(np.unique(grid)) == {FREE, UNKNOWN}
    empty = projector.project(np.zeros((CAMERA.height, CAMERA.width), np.uint8))
    assert set(np.unique(empty)) == {OCCUPIED, UNKNOWN}
    np.testing.assert_array_equal(empty == UNKNOWN, ~projector.visible_cells())


def test_a_smaller_mask_of_the_same_camera_gives_the_same_grid():
    """The node may project a mask of another size (a resized camera): intrinsics scale with it."""
    mounting = MOUNTINGS["pitched, rolled, turned, offset"]
    spec = GridSpec(resolution=0.2)
    x, y, hits = ground_hits(CAMERA, mounting)
    full = np.where(hits & on_road(x, y, "straight"), 255, 0).astype(np.uint8)
    half = full[1::2, 1::2].copy()  # pixel centres of a 620x187 image sit on odd pixels of the full one
    projector = GroundProjector(CAMERA, mounting, spec)
    a = projector.project(full).copy()
    b = projector.project(half)
    known = (a != UNKNOWN) & (b != UNKNOWN)
    assert known.mean() > 0.2 and (a[known] == b[known]).mean() > 0.98


def test_bad_setups_are_named():
    with pytest.raises(RoadSegError, match="camera_height"):
        GroundProjector(CAMERA, Mounting(height=0.0), GridSpec())
    with pytest.raises(RoadSegError, match="fx"):
        GroundProjector(Intrinsics(0.0, 700.0, 600.0, 180.0, 1240, 375), Mounting(), GridSpec())
    with pytest.raises(RoadSegError, match="uint8 mask"):
        GroundProjector(CAMERA, Mounting(), GridSpec()).project(np.zeros((10, 10), np.float32))


def test_projection_reuses_its_buffers():
    """No per-frame allocation: the same output array every call (its cost is measured by the benchmark)."""
    projector = GroundProjector(CAMERA, Mounting(), GridSpec())
    mask = np.zeros((CAMERA.height, CAMERA.width), np.uint8)
    first = projector.project(mask)
    assert projector.project(mask) is first
    assert projector.project(mask[:100, :200].copy()) is first


KITTI = Intrinsics(721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
LEVEL = Mounting(height=1.65, pitch=0.0, roll=0.0, yaw=0.0, x=0.0, y=0.0)


@pytest.mark.parametrize("size", [(1, 40000), (2, 32767), (3, 50000)])
def test_grid_handles_any_width_the_node_accepts(size):
    """OpenCV's remap stops at 32767 pixels: a 40000x1 frame with publish_grid was an internal fault."""
    projector = GroundProjector(KITTI, LEVEL, GridSpec(resolution=0.5))
    grid = projector.project(np.full(size, 255, np.uint8))
    assert grid.shape == (GridSpec(resolution=0.5).rows, GridSpec(resolution=0.5).columns)
    assert set(np.unique(grid)) <= {-1, 0}  # an all-road mask: free where seen, unknown elsewhere, never occupied


@pytest.mark.parametrize(
    "intrinsics, field",
    [
        (Intrinsics(721.5, 721.5, 609.6, 172.9, 4294967295, 4294967295), "max_pixels"),
        (Intrinsics(1e-300, 1e-300, 609.6, 172.9, 1242, 375), "fx"),
        (Intrinsics(float("nan"), 721.5, 609.6, 172.9, 1242, 375), "not finite"),
        (Intrinsics(721.5, float("inf"), 609.6, 172.9, 1242, 375), "not finite"),
        (Intrinsics(721.5, 721.5, 1e9, 172.9, 1242, 375), "principal point"),
        (Intrinsics(721.5, 721.5, 609.6, 172.9, 0, 375), "width"),
    ],
    ids=["huge-size", "tiny-focal", "nan-fx", "inf-fy", "far-centre", "zero-width"],
)
def test_nonsense_intrinsics_are_refused_not_projected(intrinsics, field):
    """Before: width = height = 4294967295 or fx = 1e-300 gave grids 87 % / 98 % road."""
    with pytest.raises(RoadSegError, match=field):
        check_intrinsics(intrinsics, max_pixels=4096 * 4096)
    check_intrinsics(KITTI, max_pixels=4096 * 4096)  # a real camera passes
