"""The road_seg node's parameters, declared once: default, description, read-only flag, range or choices.

rclpy enforces ``read_only`` and numeric ranges itself, before any callback of ours runs; :func:`check_value` adds
what descriptors cannot say (string choices, the threshold's -1 sentinel, a colour's shape). ``config/road_seg.yaml``
is a configuration in this format, the launch file passes only the arguments a user set, and the README's table is
written from :data:`PARAMETERS`. No OpenCV is imported here: the node reads ``max_pixels`` before OpenCV loads.
"""

from __future__ import annotations

import difflib
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from ros_road_seg.core.image_limits import DEFAULT_MAX_COMPRESSED_BYTES, DEFAULT_MAX_PIXELS
from ros_road_seg.core.model import MODEL_THRESHOLD, PROVIDER_CHOICES, validate_color, validate_threshold
from ros_road_seg.node.qos import QOS_CHOICES

TRANSPORT_CHOICES = ("raw", "compressed")
CAMERA_MATRIX_CHOICES = ("P", "K")  # which CameraInfo matrix projects the frames (image_geometry: P for rectified)
INTRINSICS_FROM_TOPIC = 0.0  # camera_fx/fy of 0: take the intrinsics from the camera_info topic


@dataclass(frozen=True)
class Parameter:
    default: object
    description: str
    read_only: bool = True
    choices: tuple[str, ...] = ()
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    constraints: str = ""

    def descriptor(self) -> ParameterDescriptor:
        constraints = self.constraints or (f"one of {', '.join(self.choices)}" if self.choices else "")
        descriptor = ParameterDescriptor(
            description=self.description, read_only=self.read_only, additional_constraints=constraints
        )
        if self.float_range is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1])
            ]
        if self.int_range is not None:
            descriptor.integer_range = [IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1])]
        return descriptor


PARAMETERS: dict[str, Parameter] = {
    # model and inference
    "model_path": Parameter("", "ONNX model; empty = the package's shipped default model"),
    "providers": Parameter("auto", "ONNX Runtime execution provider", choices=PROVIDER_CHOICES),
    "threshold": Parameter(
        MODEL_THRESHOLD,
        "road probability threshold; -1 = the model's metadata value",
        read_only=False,
        constraints="-1 or a value in [0, 1]",
    ),
    "intra_op_threads": Parameter(0, "ONNX Runtime threads; 0 = the CPUs available", int_range=(0, 256)),
    "intra_op_spinning": Parameter(
        False,
        "let ONNX Runtime's threads busy-wait between runs (lower raw latency on an idle many-core machine; on a "
        "small CPU it starves DDS and the publisher)",
    ),
    "trt_cache_dir": Parameter(
        "", "TensorRT engine cache folder; empty = ~/.cache/ros_road_seg/tensorrt (built once, reused at every start)"
    ),
    "inference_thread": Parameter(
        True, "run inference on a worker thread with a latest-frame slot (true) or in the subscription callback"
    ),
    # input
    "input_transport": Parameter(
        "raw",
        "subscribe to sensor_msgs/Image on 'image' (raw) or CompressedImage on 'image/compressed'",
        choices=TRANSPORT_CHOICES,
    ),
    "image_qos": Parameter(
        "sensor_data",
        "image subscription QoS: sensor_data (best effort: matches best-effort and reliable publishers), reliable, "
        "system_default",
        choices=QOS_CHOICES,
    ),
    "image_qos_depth": Parameter(1, "image subscription queue depth (the node serves the newest)", int_range=(1, 100)),
    "camera_info_qos": Parameter("sensor_data", "camera_info subscription QoS (as image_qos)", choices=QOS_CHOICES),
    "camera_info_qos_depth": Parameter(5, "camera_info subscription queue depth", int_range=(1, 100)),
    "max_pixels": Parameter(
        DEFAULT_MAX_PIXELS,
        "frames with more pixels are refused before decoding or allocation (also OpenCV's decoder ceiling)",
        int_range=(1, 2**31 - 1),
    ),
    "max_compressed_bytes": Parameter(
        DEFAULT_MAX_COMPRESSED_BYTES,
        "CompressedImage payloads larger than this are refused before any work",
        int_range=(1, 2**31 - 1),
    ),
    # outputs
    "overlay_alpha": Parameter(
        0.5, "weight of the overlay colour on road pixels", read_only=False, float_range=(0.0, 1.0)
    ),
    "overlay_color": Parameter(
        [255, 255, 255], "overlay colour R, G, B", read_only=False, constraints="three integers 0-255"
    ),
    "publish_probability": Parameter(
        False, "also publish road_probability (mono8, 0-255 = 0-1), while someone subscribes to it"
    ),
    "publish_mask_always": Parameter(
        True,
        "publish road_mask for every frame (true) or only while it has subscribers; overlay, probability and "
        "grid are rendered and published only while they have subscribers",
    ),
    "diagnostics_period": Parameter(2.0, "seconds between /diagnostics messages", float_range=(0.1, 60.0)),
    # drivable-area grid (nav_msgs/OccupancyGrid on road_grid); frames and angles as in ros_road_seg.core.ground_grid
    "publish_grid": Parameter(False, "also publish the road as an OccupancyGrid on the ground (road_grid)"),
    "grid_frame": Parameter("base_footprint", "frame of the grid; the camera mounting is given in it"),
    "grid_resolution": Parameter(0.1, "grid cell size, metres", float_range=(0.01, 5.0)),
    "grid_length": Parameter(40.0, "grid extent forward (x) from grid_origin_x, metres", float_range=(0.5, 500.0)),
    "grid_width": Parameter(30.0, "grid extent across (y), centred on y = 0, metres", float_range=(0.5, 500.0)),
    "grid_origin_x": Parameter(0.0, "x of the grid's near edge in grid_frame, metres", float_range=(-500.0, 500.0)),
    "grid_max_range": Parameter(
        40.0, "cells farther than this from the camera are unknown (-1), metres", float_range=(0.5, 1000.0)
    ),
    "camera_height": Parameter(1.65, "camera height above the ground, metres (KITTI: 1.65)", float_range=(0.05, 50.0)),
    "camera_pitch": Parameter(0.0, "camera pitch, radians, positive looks down", float_range=(-1.5, 1.5)),
    "camera_roll": Parameter(0.0, "camera roll about its forward axis, radians", float_range=(-1.5, 1.5)),
    "camera_yaw": Parameter(0.0, "camera yaw, radians, positive looks left", float_range=(-3.2, 3.2)),
    "camera_x": Parameter(0.0, "camera position forward of grid_frame's origin, metres", float_range=(-50.0, 50.0)),
    "camera_y": Parameter(0.0, "camera position left of grid_frame's origin, metres", float_range=(-50.0, 50.0)),
    "camera_info_matrix": Parameter(
        "P",
        "CameraInfo matrix the grid projects with: P for rectified frames (image_rect, KITTI; K when P is all zero), "
        "K for raw frames (distortion not modelled); roi and binning applied as image_geometry does",
        choices=CAMERA_MATRIX_CHOICES,
    ),
    "camera_fx": Parameter(
        INTRINSICS_FROM_TOPIC,
        "focal length x in pixels when no camera_info is published; 0 = use the camera_info topic",
        float_range=(0.0, 100000.0),
    ),
    "camera_fy": Parameter(
        INTRINSICS_FROM_TOPIC, "focal length y in pixels (with camera_fx)", float_range=(0.0, 100000.0)
    ),
    "camera_cx": Parameter(0.0, "principal point x in pixels (with camera_fx)", float_range=(-100000.0, 100000.0)),
    "camera_cy": Parameter(0.0, "principal point y in pixels (with camera_fx)", float_range=(-100000.0, 100000.0)),
    "camera_image_width": Parameter(
        0, "image width the camera_* intrinsics are for (with camera_fx)", int_range=(0, 100000)
    ),
    "camera_image_height": Parameter(
        0, "image height the camera_* intrinsics are for (with camera_fx)", int_range=(0, 100000)
    ),
}


def check_value(name: str, value) -> None:
    """What descriptors cannot enforce; raises ValueError naming the parameter, the value and what is allowed."""
    spec = PARAMETERS.get(name)
    if spec is None:
        return
    if spec.choices and value not in spec.choices:
        raise ValueError(f"{name} '{value}' is not one of {', '.join(spec.choices)}")
    if name == "threshold" and value != MODEL_THRESHOLD:
        validate_threshold(value)
    if name == "overlay_color":
        validate_color(tuple(value))


def declare_all(node, argv: list[str] | None = None) -> dict:
    """Declare every parameter on ``node`` and return the values it starts with (each checked); warn about what a
    params file or ``-p`` sets that this node does not have (ROS ignores it silently)."""
    for name, spec in PARAMETERS.items():
        node.declare_parameter(name, spec.default, spec.descriptor())
    values = {name: node.get_parameter(name).value for name in PARAMETERS}
    for name, value in values.items():
        check_value(name, value)
    for warning in override_warnings(node, sys.argv if argv is None else argv):
        node.get_logger().warn(warning)
    return values


ROS_OWN_PARAMETERS = {"use_sim_time", "start_type_description_service"}


def override_warnings(node, argv: list[str]) -> list[str]:
    """A misspelt key (``treshold``) in a params file or ``-p``, and a params file with no section for this node
    (another node's name), each as one warning naming the key, the file and what would match."""
    warnings = []
    overrides = set(getattr(node, "_parameter_overrides", {}))
    unknown = sorted(k for k in overrides - set(PARAMETERS) - ROS_OWN_PARAMETERS if not k.startswith("qos_overrides."))
    for key in unknown:
        close = difflib.get_close_matches(key, PARAMETERS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.append(f"parameter '{key}' is set but this node has no such parameter; it is ignored{hint}")
    name = node.get_fully_qualified_name()
    for path in (argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--params-file"):
        try:
            sections = list(yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError, TypeError):
            continue  # rcl already refused an unreadable file at init
        if sections and not any(_section_matches(section, name) for section in sections):
            warnings.append(
                f"params file '{path}' has sections {sections} but none for this node '{name}'; nothing in it applies "
                f"(name the section '{name}' or '/**')"
            )
    return warnings


def _section_matches(section: str, name: str) -> bool:
    """rcl's node-name matching of a params-file section: exact (with or without the leading '/'), or wildcards."""
    pattern = "/" + str(section).lstrip("/")
    return fnmatch.fnmatchcase(name, pattern.replace("/**", "*")) or pattern == name


def markdown_table() -> str:
    """The README's parameter table, written from :data:`PARAMETERS` (a test keeps the README in step)."""
    lines = ["| parameter | default | set at run time | meaning |", "|---|---|---|---|"]
    for name, spec in PARAMETERS.items():
        default = f'"{spec.default}"' if isinstance(spec.default, str) else spec.default
        if isinstance(spec.default, bool):
            default = str(spec.default).lower()
        allowed = ""
        if spec.choices:
            allowed = " (" + " \\| ".join(spec.choices) + ")"
        elif spec.float_range or spec.int_range:
            low, high = spec.float_range or spec.int_range
            allowed = f" [{low:g}, {high:g}]"
        lines.append(f"| `{name}` | `{default}` | {'no' if spec.read_only else 'yes'} | {spec.description}{allowed} |")
    return "\n".join(lines)
