"""From a road mask in pixels to a drivable-area grid in metres: flat-ground inverse perspective mapping.

Frames and conventions (REP-103, REP-105):
- the grid lies in ``grid_frame`` (``base_footprint``: on the ground under the robot, x forward, y left, z up);
- the camera sits at (``x``, ``y``, ``height``) in that frame and is turned by ``yaw`` (about z, left positive),
  ``pitch`` (about y: positive looks down) and ``roll`` (about x: positive tilts the image clockwise as seen from
  behind), applied as R = Rz(yaw) Ry(pitch) Rx(roll); its optical frame is z forward, x right, y down;
- the grid is ``nav_msgs/OccupancyGrid`` data: row-major, cell (0, 0) at the origin (``origin_x``, -``width`` / 2),
  columns along x, rows along y; 0 = road (free), 100 = seen and not road, -1 = not visible (behind or beside the
  camera's view, above the horizon, or beyond ``max_range``).

The ground is assumed flat: each grid cell's centre is projected into the image once (a plane-to-image homography),
and per frame the mask is only sampled there (one index take, ``cv2.LUT`` and one masked copy, into preallocated
buffers). Whatever stands
on the road (a car) is seen as "not road" on the ground behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ros_road_seg.core.errors import RoadSegError

FREE, OCCUPIED, UNKNOWN = 0, 100, -1


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: focal lengths and principal point in pixels, for images of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to ``width`` x ``height`` (pixel-centre convention)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height
        )


@dataclass(frozen=True)
class Mounting:
    """Where the camera is on the robot, in ``grid_frame`` (metres, radians); see the module docstring."""

    height: float = 1.65
    pitch: float = 0.0
    roll: float = 0.0
    yaw: float = 0.0
    x: float = 0.0
    y: float = 0.0

    def rotation(self) -> np.ndarray:
        """Camera body (x forward, y left, z up) -> grid frame."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
        return rz @ ry @ rx


# optical (x right, y down, z forward) -> camera body (x forward, y left, z up)
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class GridSpec:
    """The grid's extent and resolution: ``length`` metres forward from ``origin_x``, ``width`` metres across
    (centred on y = 0), cells of ``resolution`` metres; cells farther than ``max_range`` from the camera are -1."""

    resolution: float = 0.1
    length: float = 40.0
    width: float = 30.0
    origin_x: float = 0.0
    max_range: float = 40.0
    frame_id: str = "base_footprint"

    @property
    def columns(self) -> int:
        return int(round(self.length / self.resolution))

    @property
    def rows(self) -> int:
        return int(round(self.width / self.resolution))

    @property
    def origin_y(self) -> float:
        return -self.width / 2.0

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre, each rows x columns."""
        xs = self.origin_x + (np.arange(self.columns) + 0.5) * self.resolution
        ys = self.origin_y + (np.arange(self.rows) + 0.5) * self.resolution
        return np.meshgrid(xs, ys)


MAX_GRID_CELLS = 4_000_000  # e.g. 200 m x 200 m at 0.1 m; each parameter in range can still multiply past this
BYTES_PER_CELL = 120  # measured peak RSS per cell: centres, reach, index and visibility tables, buffers
MIN_FOCAL_PX = 1.0  # below one pixel the field of view is ~180 degrees: not a camera, a corrupt message
MAX_FOCAL_PX = 1e6


def check_intrinsics(intrinsics: Intrinsics, max_pixels: int | None = None) -> None:
    """Refuse intrinsics no real camera has, naming the field: NaN/inf anywhere, a focal length outside
    [1, 1e6] pixels, a principal point more than 100 image sizes off, a size of 0 or above ``max_pixels`` (what the node
    admits). Such values projected as free space would tell a planner to drive where nothing was seen."""
    i = intrinsics
    values = {"fx": i.fx, "fy": i.fy, "cx": i.cx, "cy": i.cy}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise RoadSegError(f"camera intrinsics {', '.join(bad)} not finite ({intrinsics})")
    if not (i.width > 0 and i.height > 0):
        raise RoadSegError(f"camera intrinsics width {i.width} x height {i.height}: both must be > 0")
    if max_pixels is not None and i.width * i.height > max_pixels:
        raise RoadSegError(f"camera intrinsics for {i.width}x{i.height} exceed max_pixels {max_pixels}")
    for name in ("fx", "fy"):
        if not MIN_FOCAL_PX <= values[name] <= MAX_FOCAL_PX:
            raise RoadSegError(
                f"camera intrinsics {name} = {values[name]:g} px outside [{MIN_FOCAL_PX:g}, {MAX_FOCAL_PX:g}]"
            )
    # a crop of a bigger frame legitimately has its principal point outside the image; 100 image sizes away it is
    # a corrupt message
    if not (abs(i.cx) <= 100 * i.width and abs(i.cy) <= 100 * i.height):
        raise RoadSegError(f"camera principal point ({i.cx:g}, {i.cy:g}) is far outside the {i.width}x{i.height} image")


def check_setup(intrinsics: Intrinsics, mounting: Mounting, spec: GridSpec) -> None:
    """Refuse what cannot give a grid, naming the setting (a camera on the ground, a zero focal length, ...)."""
    check_intrinsics(intrinsics)
    if not mounting.height > 0:
        raise RoadSegError(f"camera_height {mounting.height} must be > 0 (metres above the ground)")
    if not (spec.resolution > 0 and spec.length > 0 and spec.width > 0 and spec.max_range > 0):
        raise RoadSegError(f"grid {spec} needs resolution, length, width and max_range > 0")
    cells = spec.rows * spec.columns
    if cells > MAX_GRID_CELLS:
        raise RoadSegError(
            f"grid_length {spec.length:g} m x grid_width {spec.width:g} m at grid_resolution {spec.resolution:g} m is "
            f"{cells:,} cells (about {cells * BYTES_PER_CELL / 1e9:.1f} GB of projection tables), above "
            f"{MAX_GRID_CELLS:,}: use coarser cells or a smaller grid"
        )


def ground_to_image(intrinsics: Intrinsics, mounting: Mounting) -> np.ndarray:
    """The 3x3 homography taking ground points (x, y, 1) in the grid frame to image pixels (u, v, w)."""
    world_to_optical = OPTICAL_TO_BODY.T @ mounting.rotation().T
    centre = np.array([mounting.x, mounting.y, mounting.height])
    # a ground point P = (x, y, 0): optical = R^T (P - C) = R^T [e1 e2 -C] (x, y, 1)
    plane = np.column_stack([world_to_optical[:, 0], world_to_optical[:, 1], -world_to_optical @ centre])
    return intrinsics.matrix() @ plane


class GroundProjector:
    """Built once from intrinsics, mounting and grid; :meth:`project` turns a mask of any size into the grid."""

    def __init__(self, intrinsics: Intrinsics, mounting: Mounting, spec: GridSpec) -> None:
        check_setup(intrinsics, mounting, spec)
        self.intrinsics, self.mounting, self.spec = intrinsics, mounting, spec
        xs, ys = spec.cell_centres()
        self._cells = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        reach = np.hypot(xs - mounting.x, ys - mounting.y).ravel()
        self._in_range = reach <= spec.max_range
        self._maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._sample = np.empty((spec.rows, spec.columns), np.uint8)
        self.grid = np.empty((spec.rows, spec.columns), np.int8)
        self._lut = np.full(256, FREE, np.uint8)  # any nonzero mask value is road
        self._lut[0] = OCCUPIED
        self.maps_for(intrinsics.height, intrinsics.width)

    def maps_for(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(pixel index, unseen) for a mask of ``height`` x ``width``: the flat index of the pixel each cell samples,
        and the cells no pixel sees (cached per size). Plain indexing, so any width the node admits works (OpenCV's
        remap stops at 32767 pixels)."""
        key = (height, width)
        if key not in self._maps:
            if len(self._maps) >= 4:  # a camera whose size keeps changing must not grow memory
                self._maps.clear()
            camera = self.intrinsics.scaled_to(width, height)
            projected = ground_to_image(camera, self.mounting) @ self._cells
            depth = projected[2]
            visible = (depth > 1e-6) & self._in_range
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.where(visible, projected[0] / depth, -1.0)
                v = np.where(visible, projected[1] / depth, -1.0)
            inside = visible & (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)
            shape = (self.spec.rows, self.spec.columns)
            column = np.where(inside, np.clip(np.round(u), 0, width - 1), 0).astype(np.int64)
            row = np.where(inside, np.clip(np.round(v), 0, height - 1), 0).astype(np.int64)
            self._maps[key] = ((row * width + column).reshape(shape), ~inside.reshape(shape))
        return self._maps[key]

    def project(self, mask: np.ndarray) -> np.ndarray:
        """Road mask (uint8, nonzero = road, any size) -> the grid (int8, see module docstring). The array is
        reused by the next call."""
        if mask.ndim != 2 or mask.dtype != np.uint8:
            raise RoadSegError(f"project expects an HxW uint8 mask, got shape {mask.shape} dtype {mask.dtype}")
        index, unseen = self.maps_for(*mask.shape)
        np.take(np.ascontiguousarray(mask).reshape(-1), index, out=self._sample)
        cv2.LUT(self._sample, self._lut, dst=self.grid.view(np.uint8))
        np.copyto(self.grid, UNKNOWN, where=unseen)
        return self.grid

    def visible_cells(self) -> np.ndarray:
        """Boolean rows x columns: the cells some pixel of a full-size image sees."""
        return ~self.maps_for(self.intrinsics.height, self.intrinsics.width)[1]


BEV_COLOURS = {FREE: (60, 200, 60), OCCUPIED: (90, 90, 90), UNKNOWN: (0, 0, 0)}


def grid_to_rgb(grid: np.ndarray) -> np.ndarray:
    """A bird's-eye picture of the grid for people: forward up, left on the left; road green, seen-not-road grey,
    not visible black. (The grid's rows run along y, its columns along x.)"""
    view = np.ascontiguousarray(grid.T[::-1, ::-1])
    picture = np.zeros((*view.shape, 3), np.uint8)
    for value, colour in BEV_COLOURS.items():
        picture[view == value] = colour
    return picture
