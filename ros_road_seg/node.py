"""rclpy node: camera Image/CompressedImage in, road mask and overlay out, with the input's header.

Thin by design: message -> array (``image_conversion``), array -> :class:`Segmenter`, arrays -> messages. The
subscription callback only stores the newest frame; a worker thread runs inference, so a slow model drops stale
frames (counted) instead of queueing them.
"""

from __future__ import annotations

import re
import sys
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.errors import ImageConversionError, RoadSegError
from ros_road_seg.frame_slot import LatestFrameSlot
from ros_road_seg.image_conversion import (
    DEFAULT_MAX_PIXELS,
    array_to_image_msg,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
)
from ros_road_seg.paths import apply_fastdds_profile, default_model_path
from ros_road_seg.segmenter import PROVIDER_CHOICES, Segmenter, validate_alpha, validate_color, validate_threshold
from ros_road_seg.stats import LatencyWindow, RateCounter, SequenceGapCounter

TRANSPORT_CHOICES = ("raw", "compressed")
READ_ONLY_PARAMETERS = (
    "model_path",
    "providers",
    "input_transport",
    "publish_probability",
    "intra_op_threads",
    "max_pixels",
    "diagnostics_period",
    "inference_thread",
)
ERROR_LOG_PERIOD_S = 5.0


def _descriptor(
    description: str,
    *,
    read_only: bool = False,
    constraints: str = "",
    float_range: tuple[float, float] | None = None,
    int_range: tuple[int, int] | None = None,
) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=description, read_only=read_only, additional_constraints=constraints)
    if float_range is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float_range[0], to_value=float_range[1])]
    if int_range is not None:
        descriptor.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1])]
    return descriptor


# name -> (default, descriptor). The one place parameters are declared; config/road_seg.yaml mirrors it.
PARAMETERS = {
    "model_path": ("", _descriptor("ONNX model; empty = the package's shipped default model", read_only=True)),
    "providers": (
        "auto",
        _descriptor("execution provider", read_only=True, constraints="one of " + ", ".join(PROVIDER_CHOICES)),
    ),
    "threshold": (
        -1.0,
        _descriptor(
            "road probability threshold in [0, 1]; -1 = the model's metadata value",
            constraints="-1 or a value in [0, 1]",
        ),
    ),
    "overlay_alpha": (0.5, _descriptor("weight of the overlay colour on road pixels", float_range=(0.0, 1.0))),
    "overlay_color": ([255, 255, 255], _descriptor("overlay colour R, G, B", constraints="three integers 0-255")),
    "input_transport": (
        "raw",
        _descriptor(
            "subscribe to sensor_msgs/Image on 'image' (raw) or CompressedImage on 'image/compressed'",
            read_only=True,
            constraints="one of " + ", ".join(TRANSPORT_CHOICES),
        ),
    ),
    "publish_probability": (False, _descriptor("also publish road_probability (mono8, 0-255 = 0-1)", read_only=True)),
    "max_pixels": (
        DEFAULT_MAX_PIXELS,
        _descriptor("frames with more pixels are rejected, not processed", read_only=True, int_range=(1, 2**31 - 1)),
    ),
    "intra_op_threads": (
        0,
        _descriptor("ONNX Runtime threads; 0 = the cores available", read_only=True, int_range=(0, 256)),
    ),
    "inference_thread": (
        True,
        _descriptor(
            "run inference on a worker thread with a latest-frame slot (true) or in the subscription callback (false)",
            read_only=True,
        ),
    ),
    "diagnostics_period": (
        2.0,
        _descriptor("seconds between /diagnostics messages", read_only=True, float_range=(0.1, 60.0)),
    ),
}


def check_parameter(name: str, value) -> None:
    """Raise ValueError naming the parameter, the value and what is allowed."""
    if name == "providers" and value not in PROVIDER_CHOICES:
        raise ValueError(f"providers '{value}' is not one of {', '.join(PROVIDER_CHOICES)}")
    if name == "input_transport" and value not in TRANSPORT_CHOICES:
        raise ValueError(f"input_transport '{value}' is not one of {', '.join(TRANSPORT_CHOICES)}")
    if name == "threshold" and value != -1.0:
        validate_threshold(value)
    if name == "overlay_alpha":
        validate_alpha(value)
    if name == "overlay_color":
        validate_color(tuple(value))


class RoadSegNode(Node):
    """Publishes ``road_mask`` (mono8) and ``road_overlay`` (rgb8) for every served ``image`` frame."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("road_seg", **node_kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        values = {name: self.get_parameter(name).value for name in PARAMETERS}
        for name, value in values.items():
            check_parameter(name, value)
        self.max_pixels = int(values["max_pixels"])
        model_path = values["model_path"] or str(default_model_path())
        self.segmenter = Segmenter(
            model_path,
            providers=values["providers"],
            threshold=None if values["threshold"] == -1.0 else values["threshold"],
            overlay_alpha=values["overlay_alpha"],
            overlay_color=tuple(values["overlay_color"]),
            intra_op_threads=int(values["intra_op_threads"]),
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        input_qos = QoSProfile(
            depth=1,
            history=HistoryPolicy.KEEP_LAST,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
        output_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
        self.compressed = values["input_transport"] == "compressed"
        if self.compressed:
            self.input_topic = "image/compressed"
            self.subscription = self.create_subscription(CompressedImage, self.input_topic, self._on_image, input_qos)
        else:
            self.input_topic = "image"
            self.subscription = self.create_subscription(Image, self.input_topic, self._on_image, input_qos)
        self.mask_pub = self.create_publisher(Image, "road_mask", output_qos)
        self.overlay_pub = self.create_publisher(Image, "road_overlay", output_qos)
        self.probability_pub = (
            self.create_publisher(Image, "road_probability", output_qos) if values["publish_probability"] else None
        )
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self.received = RateCounter()
        self.served = RateCounter()
        self.bad_frames = 0
        self.last_error = ""
        self.latency = LatencyWindow(1000)
        self.transport_gaps = SequenceGapCounter()
        self.slot = LatestFrameSlot()
        self._last_error_log: dict[str, float] = {}
        self.diagnostics_timer = self.create_timer(values["diagnostics_period"], self._publish_diagnostics)
        self.worker = None
        if values["inference_thread"]:
            self.worker = threading.Thread(target=self._serve_frames, name="road_seg_inference", daemon=True)
            self.worker.start()
        self.get_logger().info(
            f"road_seg ready: model '{model_path}', provider {self.segmenter.provider}, input "
            f"{self.segmenter.input_size[1]}x{self.segmenter.input_size[0]}, threshold {self.segmenter.threshold}, "
            f"subscribed to '{self.resolve_topic_name(self.input_topic)}' ({values['input_transport']})"
        )

    # --- callbacks -------------------------------------------------------------------------------------------
    def _on_image(self, msg, info) -> None:
        """Store the newest frame for the worker; never blocks on inference."""
        self.received.tick()
        self.transport_gaps.observe(info.get("publisher_gid"), info.get("publication_sequence_number"))
        if self.worker is None:
            self._serve_safely(msg, time.monotonic())
        else:
            self.slot.put((msg, time.monotonic()))

    def _serve_frames(self) -> None:
        while not self.slot.closed:
            item = self.slot.take(timeout=0.5)
            if item is None:
                continue
            if not self._serve_safely(*item):
                return

    def _serve_safely(self, msg, arrived: float) -> bool:
        """Serve one frame; a bad one is counted and logged. False once shutting down."""
        try:
            self._serve(msg, arrived)
        except ImageConversionError as error:
            self._report_bad_frame(str(error))
        except Exception as error:  # noqa: BLE001 - one bad frame must never stop the node
            if not self.context.ok():
                return False  # shutting down (Ctrl-C/SIGTERM) mid-frame: nothing to report, nowhere to publish
            self._report_bad_frame(f"{type(error).__name__}: {error}")
        return True

    def _serve(self, msg, arrived: float) -> None:
        if self.compressed:
            rgb = compressed_msg_to_rgb(msg, self.max_pixels)
        else:
            rgb = image_msg_to_rgb(msg, self.max_pixels)
        result = self.segmenter.segment(rgb)
        self.mask_pub.publish(array_to_image_msg(result.mask, "mono8", msg.header))
        self.overlay_pub.publish(array_to_image_msg(result.overlay, "rgb8", msg.header))
        if self.probability_pub is not None:
            probability_u8 = (result.probability * 255.0 + 0.5).astype("uint8")
            self.probability_pub.publish(array_to_image_msg(probability_u8, "mono8", msg.header))
        self.latency.add(time.monotonic() - arrived)
        self.served.tick()

    def _report_bad_frame(self, reason: str) -> None:
        """Count every bad frame; log each kind of problem at most once per ERROR_LOG_PERIOD_S (no log flood)."""
        self.bad_frames += 1
        self.last_error = reason
        kind = re.sub(r"\d+", "N", reason)[:80]
        now = time.monotonic()
        if now - self._last_error_log.get(kind, -ERROR_LOG_PERIOD_S) >= ERROR_LOG_PERIOD_S:
            if len(self._last_error_log) > 64:
                self._last_error_log.clear()
            self._last_error_log[kind] = now
            self.get_logger().error(
                f"dropped a frame on '{self.resolve_topic_name(self.input_topic)}': {reason} "
                f"({self.bad_frames} bad frames so far)"
            )

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name in READ_ONLY_PARAMETERS:
                return SetParametersResult(
                    successful=False, reason=f"{parameter.name} is fixed at startup; restart the node"
                )
            try:
                check_parameter(parameter.name, parameter.value)
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
        for parameter in parameters:
            if parameter.name == "threshold":
                self.segmenter.threshold = (
                    self.segmenter.info.threshold if parameter.value == -1.0 else float(parameter.value)
                )
            elif parameter.name == "overlay_alpha":
                self.segmenter.overlay_alpha = float(parameter.value)
            elif parameter.name == "overlay_color":
                self.segmenter.overlay_color = tuple(int(c) for c in parameter.value)
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        p50, p99 = self.latency.percentiles_ms(50, 99)
        level = DiagnosticStatus.OK
        message = "serving"
        if self.received.total and not self.served.total:
            level, message = DiagnosticStatus.ERROR, "receiving frames but serving none"
        elif self.bad_frames:
            level, message = DiagnosticStatus.WARN, f"bad frames: {self.bad_frames}; last: {self.last_error}"
        gaps = self.transport_gaps

        def gap_count(count: int) -> str:
            return str(count) if gaps.supported else "unknown (no sequence numbers)"

        values = {
            "fps_in": f"{self.received.rate_since_last():.2f}",
            "fps_out": f"{self.served.rate_since_last():.2f}",
            "frames_received": str(self.received.total),
            "frames_served": str(self.served.total),
            "frames_dropped_stale": str(self.slot.dropped),
            "frames_lost_in_transport": gap_count(gaps.lost),
            "frames_published_before_first_received": gap_count(gaps.before_first),
            "frames_bad": str(self.bad_frames),
            "latency_p50_ms": f"{p50:.2f}",
            "latency_p99_ms": f"{p99:.2f}",
            "provider": self.segmenter.provider,
            "model": self.segmenter.model_path,
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_fully_qualified_name()}: road segmentation",
            message=message,
            hardware_id=self.segmenter.provider,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        diagnostics = DiagnosticArray(status=[status])
        diagnostics.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(diagnostics)

    def stop(self) -> None:
        self.slot.close()
        if self.worker is not None:
            self.worker.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    """Console script ``road_seg_node``: a clear one-line error and exit code 1 when startup fails."""
    apply_fastdds_profile()
    try:
        rclpy.init(args=args)
    except Exception as error:  # noqa: BLE001 - e.g. a missing or malformed --params-file
        print(f"[road_seg] cannot start: {_first_line(error)}", file=sys.stderr)
        return 1
    node = None
    try:
        node = RoadSegNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (RoadSegError, ValueError) as error:
        print(f"[road_seg] cannot start: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - rclpy parameter errors etc.: one line, not a traceback wall
        print(f"[road_seg] cannot start: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
