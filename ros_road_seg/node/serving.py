"""What the road_seg node does, whatever its lifecycle: configure (load the model), activate (subscribe and serve),
deactivate, clean up. The plain node runs configure + activate at start; the managed node lets a lifecycle
manager drive each step (``ros_road_seg.node.lifecycle_node``).

Message -> array (``image_conversion``), array -> :class:`Segmenter`, arrays -> messages, mask -> ground grid
(``ground_grid``). The subscription callback only stores the newest frame; a worker thread runs inference, so a
slow model drops stale frames (counted) instead of queueing them. Bad input is a counted, logged bad frame; any other
exception is an internal fault, logged with its traceback and turning /diagnostics to ERROR; the node keeps running.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.msg import SetParametersResult
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.errors import ImageConversionError
from ros_road_seg.core.image_limits import set_decoder_ceiling
from ros_road_seg.core.paths import default_model_path, shm_segment_bytes
from ros_road_seg.core.stats import LatencyWindow, RateCounter, SequenceGapCounter, StageTimings, trim_heap
from ros_road_seg.node.diagnostics import diagnostic_array
from ros_road_seg.node.faults import FaultLog
from ros_road_seg.node.frame_slot import LatestFrameSlot
from ros_road_seg.node.parameters import PARAMETERS, check_value
from ros_road_seg.node.qos import subscription_qos

RUNTIME_PARAMETERS = tuple(name for name, spec in PARAMETERS.items() if not spec.read_only)
LARGE_FRAME_PIXELS = 8_388_608  # after a frame above 8 Mpx (4K UHD), hand its memory back to the system


class RoadSegServer:
    """Publishes ``road_mask`` (mono8) for every served ``image`` frame, and ``road_overlay`` (rgb8),
    ``road_probability`` and ``road_grid`` while someone subscribes to them, with the input's header stamp."""

    def __init__(self, node, values: dict, create_publisher, destroy_publisher) -> None:
        self.node = node
        self.values = values
        # a lifecycle node's publishers publish only while it is active, and are destroyed through the node
        self._create_publisher, self._destroy_publisher = create_publisher, destroy_publisher
        self.segmenter = None
        self.model_path = ""
        self.compressed = values["input_transport"] == "compressed"
        self.input_topic = "image/compressed" if self.compressed else "image"
        self.subscriptions: list = []
        self.publishers: dict[str, object] = {}
        self.worker: threading.Thread | None = None
        self.slot = LatestFrameSlot()
        self.received = RateCounter()
        self.served = RateCounter()
        self.latency = LatencyWindow(1000)
        self.stages = StageTimings(1000)
        self.transport_gaps = SequenceGapCounter()
        self.faults = FaultLog(node.get_logger())
        self.outputs_live: tuple[str, ...] = ()
        self.transport_max_bytes: int | None = None
        self.state = "unconfigured"
        self.grid = None  # ros_road_seg.node.serving_grid.GridOutput when publish_grid
        self.diagnostics_pub = None
        self.diagnostics_timer = None
        node.add_on_set_parameters_callback(self._check_parameters)
        node.add_post_set_parameters_callback(self._apply_parameters)

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def configure(self) -> None:
        """Load and validate the model, set the decoder limits, create the publishers; RoadSegError names a failure."""
        values = self.values
        if not set_decoder_ceiling(int(values["max_pixels"])):
            self.faults.once(
                "warn",
                "ceiling",
                "OpenCV was loaded before the node: its decoder ceiling stays at its default (the header checks "
                "still refuse oversized frames)",
            )
        from ros_road_seg.core.segmenter import Segmenter  # the first OpenCV import in the process: after the ceiling

        self.model_path = values["model_path"] or str(default_model_path())
        self.segmenter = Segmenter(
            self.model_path,
            providers=values["providers"],
            threshold=values["threshold"],
            overlay_alpha=values["overlay_alpha"],
            overlay_color=tuple(values["overlay_color"]),
            intra_op_threads=int(values["intra_op_threads"]),
            trt_cache_dir=values["trt_cache_dir"] or None,
            spinning=values["intra_op_spinning"],
        )
        if self.segmenter.model_path != self.model_path:
            self.node.get_logger().info(
                f"running '{self.segmenter.model_path}' (the FP16 sibling of '{self.model_path}': "
                f"{self.segmenter.provider} runs INT8 QDQ models poorly)"
            )
            self.model_path = self.segmenter.model_path
        self._check_transport(int(values["max_pixels"]))
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

    def _check_transport(self, max_pixels: int) -> None:
        """Say which frames the Fast DDS shared-memory profile in effect carries, when it carries less than
        ``max_pixels`` admits (a bigger rgb8 frame is lost between processes, not refused with a reason)."""
        self.transport_max_bytes = shm_segment_bytes(os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"))
        if self.transport_max_bytes is None:
            return
        carried = self.transport_max_bytes // 3
        if max_pixels > carried:
            self.node.get_logger().warn(
                f"the Fast DDS shared-memory segment ({self.transport_max_bytes / 2**20:.0f} MB) carries rgb8 frames "
                f"up to about {carried / 1e6:.1f} Mpx between processes, but max_pixels admits {max_pixels / 1e6:.1f} "
                "Mpx: larger frames from another process are lost in transport. Raise <segment_size> in the "
                "profile (FASTDDS_DEFAULT_PROFILES_FILE) or lower max_pixels."
            )

    def activate(self) -> None:
        """Subscribe to the camera and start serving."""
        message_type = CompressedImage if self.compressed else Image
        qos = subscription_qos(self.values["image_qos"], int(self.values["image_qos_depth"]))
        self.subscriptions = [self.node.create_subscription(message_type, self.input_topic, self._on_image, qos)]
        if self.grid is not None:
            self.subscriptions += self.grid.subscribe()
        self.slot.reopen()  # not a new slot: frames_dropped_stale stays cumulative across activations
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
            f"{segmenter.input_size[1]}x{segmenter.input_size[0]}{' tiles' * (segmenter.info.tiling == 'aspect')}, "
            f"threshold {segmenter.threshold}, "
            f"subscribed to '{self.node.resolve_topic_name(self.input_topic)}' ({self.values['input_transport']}, "
            f"{self.values['image_qos']} QoS){grid}"
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
            self.faults.bad_frame(str(error), self.node.resolve_topic_name(self.input_topic))
        except Exception as error:  # noqa: BLE001 - one faulty frame must never stop the node
            if not self.node.context.ok():
                return False  # shutting down (Ctrl-C/SIGTERM) mid-frame: nothing to report, nowhere to publish
            self.faults.internal_fault(error)
        return True

    def watched(self) -> tuple[str, ...]:
        """The outputs worth producing now: the mask always (unless ``publish_mask_always`` is false), the others
        only while they have subscribers."""
        live = []
        for name, publisher in self.publishers.items():
            always = name == "mask" and self.values["publish_mask_always"]
            if always or publisher.get_subscription_count() > 0:
                live.append(name)
        if self.grid is not None and self.grid.publisher.get_subscription_count() > 0:
            live.append("grid")
        return tuple(live)

    def _serve(self, msg, arrived: float) -> None:
        from ros_road_seg.core.image_conversion import array_to_image_msg, compressed_msg_to_rgb, image_msg_to_rgb

        started = time.perf_counter()
        if self.compressed:
            rgb = compressed_msg_to_rgb(msg, self.values["max_pixels"], self.values["max_compressed_bytes"])
        else:
            rgb = image_msg_to_rgb(msg, self.values["max_pixels"])
        converted = time.perf_counter()
        live = self.outputs_live = self.watched()
        result = self.segmenter.segment(rgb, render_overlay="overlay" in live)
        segmented = time.perf_counter()
        if "mask" in live:
            self.publishers["mask"].publish(array_to_image_msg(result.mask, "mono8", msg.header))
        if "overlay" in live:
            self.publishers["overlay"].publish(array_to_image_msg(result.overlay, "rgb8", msg.header))
        if "probability" in live:
            probability_u8 = np.clip(result.probability * 255.0 + 0.5, 0.0, 255.0).astype("uint8")
            self.publishers["probability"].publish(array_to_image_msg(probability_u8, "mono8", msg.header))
        if "grid" in live:
            self.grid.publish(result.mask, msg.header)
        self.stages.add(
            {"convert": converted - started, **self.segmenter.last_timings, "publish": time.perf_counter() - segmented}
        )
        self.latency.add(time.monotonic() - arrived)
        self.served.tick()
        if rgb.shape[0] * rgb.shape[1] > LARGE_FRAME_PIXELS:  # one huge frame must not keep RSS up for good
            del rgb, result
            trim_heap()

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
        self.diagnostics_pub.publish(diagnostic_array(self))
