"""The node's ``road_grid`` output: camera intrinsics (a ``camera_info`` topic, or parameters) + mounting (parameters;
tf2 is not available here, so parameters are the source of truth) -> :class:`GroundProjector` -> OccupancyGrid."""

from __future__ import annotations

import array

from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import CameraInfo

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.ground_grid import GridSpec, GroundProjector, Intrinsics, Mounting, check_intrinsics
from ros_road_seg.node.parameters import INTRINSICS_FROM_TOPIC
from ros_road_seg.node.qos import subscription_qos


def occupancy_data(grid) -> array.array:
    """An int8 grid as OccupancyGrid ``data`` (array.array: rclpy copies it in one go, not per element)."""
    return array.array("b", grid.tobytes())


def fixed_intrinsics(values: dict) -> Intrinsics | None:
    """Intrinsics from the camera_* parameters, or None when they say 'use the camera_info topic'."""
    if values["camera_fx"] == INTRINSICS_FROM_TOPIC:
        return None
    if not (values["camera_fy"] > 0 and values["camera_image_width"] > 0 and values["camera_image_height"] > 0):
        raise RoadSegError(
            "camera_fx is set, so camera_fy, camera_image_width and camera_image_height must be > 0 too "
            f"(got {values['camera_fy']}, {values['camera_image_width']}, {values['camera_image_height']})"
        )
    return Intrinsics(
        values["camera_fx"],
        values["camera_fy"],
        values["camera_cx"],
        values["camera_cy"],
        int(values["camera_image_width"]),
        int(values["camera_image_height"]),
    )


def camera_info_intrinsics(msg, max_pixels: int | None = None, matrix: str = "P") -> Intrinsics:
    """Intrinsics of the frames a ``sensor_msgs/CameraInfo`` describes, as image_geometry's PinholeCameraModel reads
    them: rectified frames are projected with P (K when P is all zero, an uncalibrated camera), raw ones with K
    (``matrix="K"``); a set ``roi`` means the frames are that crop, so the principal point moves by its offset (its
    size is the frames' size; binning then shows as frames smaller than that, which :class:`GroundProjector` scales
    to). Validated like parameters are; RoadSegError names the bad field."""
    k = [float(v) for v in msg.k]
    p = [float(v) for v in msg.p]
    if len(k) != 9:
        raise RoadSegError(f"CameraInfo k has {len(k)} values, expected 9")
    if len(p) != 12:
        raise RoadSegError(f"CameraInfo p has {len(p)} values, expected 12")
    if matrix == "P" and any(p):
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
    else:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    width, height = int(msg.width), int(msg.height)
    roi = msg.roi
    if roi.width > 0 and roi.height > 0:  # all-zero roi = the full frame (image_geometry's convention)
        if roi.x_offset + roi.width > width or roi.y_offset + roi.height > height:
            raise RoadSegError(
                f"CameraInfo roi {roi.width}x{roi.height} at ({roi.x_offset}, {roi.y_offset}) is outside the "
                f"{width}x{height} image"
            )
        cx, cy = cx - roi.x_offset, cy - roi.y_offset
        width, height = int(roi.width), int(roi.height)
    intrinsics = Intrinsics(fx, fy, cx, cy, width, height)
    try:
        check_intrinsics(intrinsics, max_pixels)
    except RoadSegError as error:
        raise RoadSegError(f"CameraInfo: {error}") from None
    return intrinsics


class GridOutput:
    """Projects each served mask onto the ground and publishes it with the image's stamp, once intrinsics exist."""

    def __init__(self, node, values: dict, publisher) -> None:
        self.node, self.publisher = node, publisher
        self.max_pixels = int(values["max_pixels"])
        self.camera_matrix = values["camera_info_matrix"]
        self.info_qos = subscription_qos(values["camera_info_qos"], int(values["camera_info_qos_depth"]))
        self.mismatch_logged: set[tuple[int, int]] = set()
        self.mounting = Mounting(
            height=values["camera_height"],
            pitch=values["camera_pitch"],
            roll=values["camera_roll"],
            yaw=values["camera_yaw"],
            x=values["camera_x"],
            y=values["camera_y"],
        )
        self.spec = GridSpec(
            resolution=values["grid_resolution"],
            length=values["grid_length"],
            width=values["grid_width"],
            origin_x=values["grid_origin_x"],
            max_range=values["grid_max_range"],
            frame_id=values["grid_frame"],
        )
        self.projector: GroundProjector | None = None
        self.published = 0
        self.skipped = 0
        self.info_received = 0
        self.intrinsics_source = "parameters"
        self.info_topic = node.resolve_topic_name("camera_info")
        intrinsics = fixed_intrinsics(values)
        if intrinsics is not None:
            self.projector = GroundProjector(intrinsics, self.mounting, self.spec)  # errors fail the configure
            self.waiting_reason = ""
        else:
            self.intrinsics_source = f"CameraInfo on '{self.info_topic}'"
            self.waiting_reason = (
                f"road_grid not published: no camera intrinsics yet (waiting for CameraInfo on '{self.info_topic}', "
                "or set camera_fx, camera_fy, camera_cx, camera_cy, camera_image_width, camera_image_height)"
            )
            node.get_logger().warn(self.waiting_reason)
        self.message = OccupancyGrid()
        self.message.header.frame_id = self.spec.frame_id
        info = self.message.info
        info.resolution = float(self.spec.resolution)
        info.width, info.height = self.spec.columns, self.spec.rows
        info.origin.position.x, info.origin.position.y = float(self.spec.origin_x), float(self.spec.origin_y)
        info.origin.orientation.w = 1.0

    def subscribe(self) -> list:
        """The camera_info subscription, when intrinsics come from the topic."""
        if self.intrinsics_source == "parameters":
            return []
        return [self.node.create_subscription(CameraInfo, "camera_info", self._on_camera_info, self.info_qos)]

    def _on_camera_info(self, msg) -> None:
        self.info_received += 1
        try:
            intrinsics = camera_info_intrinsics(msg, self.max_pixels, self.camera_matrix)
            if self.projector is None or self.projector.intrinsics != intrinsics:
                self.projector = GroundProjector(intrinsics, self.mounting, self.spec)  # built once per camera
                if self.waiting_reason:
                    self.node.get_logger().info(f"road_grid: intrinsics from '{self.info_topic}': {intrinsics}")
                self.waiting_reason = ""
        except RoadSegError as error:
            reason = f"road_grid not published: bad CameraInfo on '{self.info_topic}': {error}"
            if reason != self.waiting_reason:
                self.node.get_logger().error(reason)
            self.waiting_reason, self.projector = reason, None

    def publish(self, mask, header) -> None:
        projector = self.projector
        if projector is None:
            self.skipped += 1
            return
        size = (projector.intrinsics.height, projector.intrinsics.width)
        if mask.shape != size and mask.shape not in self.mismatch_logged and len(self.mismatch_logged) < 16:
            self.mismatch_logged.add(mask.shape)
            self.node.get_logger().warn(
                f"road_grid: the camera intrinsics are for {size[1]}x{size[0]} but frames are "
                f"{mask.shape[1]}x{mask.shape[0]}; scaling them to the frames (check camera_info matches the image)"
            )
        grid = projector.project(mask)
        self.message.header.stamp = header.stamp
        self.message.info.map_load_time = header.stamp
        self.message.data = occupancy_data(grid)
        self.publisher.publish(self.message)
        self.published += 1

    def diagnostics(self) -> dict[str, str]:
        return {
            "grid_published": str(self.published),
            "grid_skipped_no_intrinsics": str(self.skipped),
            "grid_camera_info_received": str(self.info_received),
            "grid_intrinsics": self.intrinsics_source,
            "grid_frame": self.spec.frame_id,
        }
