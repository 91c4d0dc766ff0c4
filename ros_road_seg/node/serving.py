"""What the road_seg node does, whatever its lifecycle: configure (load the model), activate (subscribe and serve),
deactivate, clean up. The plain node runs configure + activate at start; the managed node lets a lifecycle
manager drive each step (``ros_road_seg.node.lifecycle_node``).

Message -> array (``image_conversion``), array -> :class:`Segmenter`, arrays -> messages, mask -> ground grid
(``ground_grid``). The subscription callback only stores the newest frame; a worker thread runs inference, so a
slow model drops stale frames (counted) instead of queueing them. Bad input is a counted, logged bad frame; any other
exception is an internal fault, logged with its traceback and turning /diagnostics to ERROR; the node keeps running.
"""

from __future__ import annotations

import re
import threading
import time
import traceback

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.msg import SetParametersResult
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.errors import ImageConversionError
from ros_road_seg.core.image_limits import set_decoder_ceiling
from ros_road_seg.core.paths import default_model_path
from ros_road_seg.core.stats import LatencyWindow, RateCounter, SequenceGapCounter
from ros_road_seg.node.frame_slot import LatestFrameSlot
from ros_road_seg.node.parameters import PARAMETERS, check_value

ERROR_LOG_PERIOD_S = 5.0
RUNTIME_PARAMETERS = tuple(name for name, spec in PARAMETERS.items() if not spec.read_only)


class RoadSegServer:
    """Publishes ``road_mask`` (mono8), ``road_overlay`` (rgb8) and optionally ``road_probability`` and
    ``road_grid`` for every served ``image`` frame, with the input's header stamp."""

    def __init__(self, node, values: dict, create_publisher, destroy_publisher) -> None:
        self.node = node
        self.values = values
        # a lifecycle node's publishers publish only while it is active, and are destroyed through the node
        self._create_publisher, self._destroy_publisher = create_publisher, destroy_publisher
        self.segmenter = None
        self.subscriptions: list = []
        self.publishers: dict[str, object] = {}
        self.worker: threading.Thread | None = None
        self.slot = LatestFrameSlot()
        self.received = RateCounter()
        self.served = RateCounter()
        self.latency = LatencyWindow(1000)
        self.transport_gaps = SequenceGapCounter()
        self.bad_frames = 0
        self.internal_faults = 0
        self.last_error = ""
        self.last_fault = ""
        self.state = "unconfigured"
        self.grid = None  # ros_road_seg.node.serving_grid.GridOutput when publish_grid
        self._last_log: dict[str, float] = {}
        self.diagnostics_pub = None
        self.diagnostics_timer = None
        node.add_on_set_parameters_callback(self._check_parameters)
        node.add_post_set_parameters_callback(self._apply_parameters)

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def configure(self) -> None:
        """Load and validate the model, set the decoder limits, create the publishers; RoadSegError names a failure."""
        values = self.values
        if not set_decoder_ceiling(int(values["max_pixels"])):
            self._log_once(
                "warn",
                "ceiling",
                "OpenCV was loaded before the node: its decoder ceiling stays at its default (the header checks "
                "still refuse oversized frames)",
            )
        from ros_road_seg.core.segmenter import (
            Segmenter,
        )  # the first OpenCV import in the node process: after the ceiling

        self.model_path = values["model_path"] or str(default_model_path())
        self.segmenter = Segmenter(
            self.model_path,
            providers=values["providers"],
            threshold=values["threshold"],
            overlay_alpha=values["overlay_alpha"],
            overlay_color=tuple(values["overlay_color"]),
            intra_op_threads=int(values["intra_op_threads"]),
        )
        output_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers = {
            "mask": self._create_publisher(Image, "road_mask", output_qos),
            "overlay": self._create_publisher(Image, "road_overlay", output_qos),
        }
        if values["publish_probability"]:
            self.publishers["probability"] = self._create_publisher(Image, "road_probability", output_qos)
        if values["publish_grid"]:
            from ros_road_seg.node.serving_grid import GridOutput

            self.grid = GridOutput(self.node, values, self._create_publisher(OccupancyGrid, "road_grid", output_qos))
        self.diagnostics_pub = self.node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diagnostics_timer = self.node.create_timer(values["diagnostics_period"], self.publish_diagnostics)
        self.state = "inactive"

    def activate(self) -> None:
        """Subscribe to the camera and start serving."""
        input_qos = QoSProfile(
            depth=1,
            history=HistoryPolicy.KEEP_LAST,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
        self.compressed = self.values["input_transport"] == "compressed"
        self.input_topic = "image/compressed" if self.compressed else "image"
        message_type = CompressedImage if self.compressed else Image
        self.subscriptions = [self.node.create_subscription(message_type, self.input_topic, self._on_image, input_qos)]
        if self.grid is not None:
            self.subscriptions += self.grid.subscribe()
        self.slot = LatestFrameSlot()
        if self.values["inference_thread"]:
            self.worker = threading.Thread(target=self._serve_frames, name="road_seg_inference", daemon=True)
            self.worker.start()
        self.state = "active"

    def deactivate(self) -> None:
        """Stop serving: no subscription, no worker, nothing published."""
        for subscription in self.subscriptions:
            self.node.destroy_subscription(subscription)
        self.subscriptions = []
        self.stop_worker()
        self.state = "inactive"

    def cleanup(self) -> None:
        """Free the model's session and the publishers (back to unconfigured)."""
        for publisher in self.publishers.values():
            self._destroy_publisher(publisher)
        if self.grid is not None:
            self._destroy_publisher(self.grid.publisher)
        self.publishers, self.grid, self.segmenter = {}, None, None
        if self.diagnostics_timer is not None:
            self.node.destroy_timer(self.diagnostics_timer)
            self.node.destroy_publisher(self.diagnostics_pub)
        self.diagnostics_timer = self.diagnostics_pub = None
        self.state = "unconfigured"

    def stop_worker(self) -> None:
        self.slot.close()
        if self.worker is not None:
            self.worker.join(timeout=2.0)
            self.worker = None

    def ready_line(self) -> str:
        segmenter = self.segmenter
        grid = f", grid in '{self.values['grid_frame']}'" if self.grid is not None else ""
        return (
            f"road_seg ready: model '{self.model_path}', provider {segmenter.provider}, input "
            f"{segmenter.input_size[1]}x{segmenter.input_size[0]}, threshold {segmenter.threshold}, "
            f"subscribed to '{self.node.resolve_topic_name(self.input_topic)}' ({self.values['input_transport']})"
            f"{grid}"
        )

    # --- frames --------------------------------------------------------------------------------------------------
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
            if item is not None and not self._serve_safely(*item):
                return

    def _serve_safely(self, msg, arrived: float) -> bool:
        """Serve one frame. Bad input is counted; any other exception is an internal fault, logged with its
        traceback once per kind and shown as ERROR on /diagnostics. False once shutting down."""
        try:
            self._serve(msg, arrived)
        except ImageConversionError as error:
            self._report_bad_frame(str(error))
        except Exception as error:  # noqa: BLE001 - one faulty frame must never stop the node
            if not self.node.context.ok():
                return False  # shutting down (Ctrl-C/SIGTERM) mid-frame: nothing to report, nowhere to publish
            self._report_internal_fault(error)
        return True

    def _serve(self, msg, arrived: float) -> None:
        from ros_road_seg.core.image_conversion import array_to_image_msg, compressed_msg_to_rgb, image_msg_to_rgb

        if self.compressed:
            rgb = compressed_msg_to_rgb(msg, self.values["max_pixels"], self.values["max_compressed_bytes"])
        else:
            rgb = image_msg_to_rgb(msg, self.values["max_pixels"])
        result = self.segmenter.segment(rgb)
        self.publishers["mask"].publish(array_to_image_msg(result.mask, "mono8", msg.header))
        self.publishers["overlay"].publish(array_to_image_msg(result.overlay, "rgb8", msg.header))
        if "probability" in self.publishers:
            probability_u8 = (result.probability * 255.0 + 0.5).astype("uint8")
            self.publishers["probability"].publish(array_to_image_msg(probability_u8, "mono8", msg.header))
        if self.grid is not None:
            self.grid.publish(result.mask, msg.header)
        self.latency.add(time.monotonic() - arrived)
        self.served.tick()

    def _report_bad_frame(self, reason: str) -> None:
        """Count every bad frame; log each kind of problem at most once per ERROR_LOG_PERIOD_S (no log flood)."""
        self.bad_frames += 1
        self.last_error = reason
        self._log_once(
            "error",
            re.sub(r"\d+", "N", reason)[:80],
            f"dropped a frame on '{self.node.resolve_topic_name(self.input_topic)}': {reason} "
            f"({self.bad_frames} bad frames so far)",
        )

    def _report_internal_fault(self, error: Exception) -> None:
        self.internal_faults += 1
        where = traceback.extract_tb(error.__traceback__)[-1]
        self.last_fault = f"{type(error).__name__}: {error} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        self._log_once(
            "error",
            f"fault {type(error).__name__} {where.filename}:{where.lineno}",
            "internal fault while serving a frame (a bug, not bad input; the node keeps running): "
            + "".join(traceback.format_exception(error)).rstrip(),
        )

    def _log_once(self, level: str, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_log.get(kind, -ERROR_LOG_PERIOD_S) >= ERROR_LOG_PERIOD_S:
            if len(self._last_log) > 64:
                self._last_log.clear()
            self._last_log[kind] = now
            getattr(self.node.get_logger(), level)(text)

    # --- parameters ----------------------------------------------------------------------------------------------
    def _check_parameters(self, parameters) -> SetParametersResult:
        """rclpy has already refused read-only and out-of-range values; what is left is ours to check."""
        for parameter in parameters:
            try:
                check_value(parameter.name, parameter.value)
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        for parameter in parameters:
            if parameter.name in self.values:
                self.values[parameter.name] = parameter.value
            if self.segmenter is None:
                continue  # applied at configure
            if parameter.name == "threshold":
                self.segmenter.threshold = parameter.value
            elif parameter.name == "overlay_alpha":
                self.segmenter.overlay_alpha = float(parameter.value)
            elif parameter.name == "overlay_color":
                self.segmenter.overlay_color = tuple(int(c) for c in parameter.value)

    # --- diagnostics ---------------------------------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        p50, p99 = self.latency.percentiles_ms(50, 99)
        level, message = DiagnosticStatus.OK, "serving" if self.state == "active" else self.state
        if self.bad_frames:
            level, message = DiagnosticStatus.WARN, f"bad frames: {self.bad_frames}; last: {self.last_error}"
        if self.received.total and not self.served.total and self.state == "active":
            level, message = DiagnosticStatus.ERROR, "receiving frames but serving none"
        if self.internal_faults:
            level, message = DiagnosticStatus.ERROR, f"internal faults: {self.internal_faults}; last: {self.last_fault}"
        gaps = self.transport_gaps

        def gap_count(count: int) -> str:
            return str(count) if gaps.supported else "unknown (no sequence numbers)"

        values = {
            "state": self.state,
            "fps_in": f"{self.received.rate_since_last():.2f}",
            "fps_out": f"{self.served.rate_since_last():.2f}",
            "frames_received": str(self.received.total),
            "frames_served": str(self.served.total),
            "frames_dropped_stale": str(self.slot.dropped),
            "frames_lost_in_transport": gap_count(gaps.lost),
            "frames_published_before_first_received": gap_count(gaps.before_first),
            "frames_bad": str(self.bad_frames),
            "internal_faults": str(self.internal_faults),
            "latency_p50_ms": f"{p50:.2f}",
            "latency_p99_ms": f"{p99:.2f}",
            "provider": self.segmenter.provider if self.segmenter is not None else "none",
            "model": getattr(self, "model_path", ""),
        }
        if self.grid is not None:
            values.update(self.grid.diagnostics())
            if self.grid.waiting_reason and level == DiagnosticStatus.OK:
                level, message = DiagnosticStatus.WARN, self.grid.waiting_reason
        status = DiagnosticStatus(
            level=level,
            name=f"{self.node.get_fully_qualified_name()}: road segmentation",
            message=message,
            hardware_id=values["provider"],
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        diagnostics = DiagnosticArray(status=[status])
        diagnostics.header.stamp = self.node.get_clock().now().to_msg()
        self.diagnostics_pub.publish(diagnostics)
