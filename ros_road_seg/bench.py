"""``python -m ros_road_seg.bench``: the course pipeline, raw ONNX Runtime, our core and our node, side by side.

Same frames, same model, one process run, warm-up first. Prints a markdown table and writes it with a JSON file:
  a) course: Keras ``predict`` + PIL resize + threshold + PIL resize back + ``Image.blend`` (needs --keras and TF)
  b) raw ORT: ``session.run`` on a ready 1xhxwx3 tensor (the model's floor)
  c) core: RGB frame in -> mask + overlay out at the frame's size (``Segmenter.segment``)
  d) node: publisher process -> road_seg_node process -> subscriber, latency from the header stamp to arrival
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.image_conversion import array_to_image_msg
from ros_road_seg.paths import apply_fastdds_profile, default_model_path, share_directory
from ros_road_seg.segmenter import Segmenter
from ros_road_seg.stats import summarize_ms

SWEEP = {"640x480": (480, 640), "1242x375": (375, 1242), "1920x1080": (1080, 1920)}


def load_frames(folder: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The sample KITTI frames, resized to (height, width) when they are not already that size."""
    frames = []
    for path in sorted(Path(folder).glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != size:
            rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        frames.append(rgb)
    if not frames:
        raise FileNotFoundError(f"no PNG frames in '{folder}'")
    return frames


def time_calls(function, frames: list[np.ndarray], iterations: int, warmup: int = 10) -> list[float]:
    for index in range(warmup):
        function(frames[index % len(frames)])
    times = []
    for index in range(iterations):
        start = time.perf_counter()
        function(frames[index % len(frames)])
        times.append(time.perf_counter() - start)
    return times


def bench_raw_ort(segmenter: Segmenter, iterations: int) -> list[float]:
    tensor = np.random.default_rng(0).random((1, *segmenter.input_size, 3), dtype=np.float32)
    feeds = {segmenter.input_name: tensor}
    names = [segmenter.output_name]
    return time_calls(lambda _: segmenter.session.run(names, feeds), [tensor], iterations)


def course_pipeline(keras_path: Path, threshold: float = 0.5):
    """The course's serving code, as a callable rgb -> overlay (None, reason when TensorFlow is unavailable)."""
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        from PIL import Image as PILImage
    except ImportError as error:
        return None, f"skipped: TensorFlow/Keras not installed ({error})"
    if keras_path is None or not Path(keras_path).is_file():
        return None, "skipped: no --keras model given"
    model = keras.saving.load_model(keras_path, compile=False)
    height, width = int(model.input.shape[1]), int(model.input.shape[2])

    def run(rgb: np.ndarray):
        image = PILImage.fromarray(rgb)
        small = np.asarray(image.resize((width, height)), dtype=np.float32)[None] / 255.0
        prediction = model.predict(small, verbose=0)
        if isinstance(prediction, list):
            prediction = prediction[-1]
        mask = PILImage.fromarray(((prediction[0, :, :, 0] > threshold) * 255).astype(np.uint8))
        mask = mask.resize(image.size).convert("RGB")
        return PILImage.blend(image, mask, 0.5)

    return run, "Keras predict + PIL resize + Image.blend"


def compare_variants(
    segmenter: Segmenter, frames: list[np.ndarray], labels: list[np.ndarray], iterations: int
) -> list[dict]:
    """Tuning choices measured on the same frames: resize interpolation, and where the threshold goes."""
    from ros_road_seg.metrics import road_iou
    from ros_road_seg.segmenter import resize_probability, threshold_mask

    height, width = segmenter.input_size
    rows = []
    for name, flag in (
        ("preprocess resize INTER_AREA (used)", cv2.INTER_AREA),
        ("preprocess resize INTER_LINEAR", cv2.INTER_LINEAR),
    ):
        times = time_calls(lambda f, flag=flag: cv2.resize(f, (width, height), interpolation=flag), frames, iterations)
        rows.append({"variant": name, **summarize_ms(times)})
    probabilities = [segmenter.probability(f).copy() for f in frames]

    def prob_then_threshold(index: int) -> np.ndarray:
        return threshold_mask(resize_probability(probabilities[index], frames[index].shape[:2]), segmenter.threshold)

    def threshold_then_nearest(index: int) -> np.ndarray:
        small = threshold_mask(np.ascontiguousarray(probabilities[index]), segmenter.threshold)
        size = frames[index].shape[1], frames[index].shape[0]
        return cv2.resize(small, size, interpolation=cv2.INTER_NEAREST)

    for name, function in (
        ("resize probability (linear), then threshold (used)", prob_then_threshold),
        ("threshold at model size, then resize nearest", threshold_then_nearest),
    ):
        times = time_calls(function, list(range(len(frames))), iterations)
        ious = [road_iou(function(i), labels[i]) for i in range(len(frames))] if labels else []
        rows.append(
            {"variant": name, **summarize_ms(times), "mean_iou": float(np.mean(ious)) if ious else float("nan")}
        )
    return rows


def profile_operators(model: Path, iterations: int = 50) -> list[tuple[str, float]]:
    """ONNX Runtime's own profile of the raw model: share of kernel time per operator type."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    shape = [1 if not isinstance(d, int) else d for d in session.get_inputs()[0].shape]
    feeds = {session.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    for _ in range(iterations):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    totals: dict[str, float] = {}
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + event.get("dur", 0)
    trace.unlink()
    grand = sum(totals.values()) or 1.0
    return sorted(((op, 100.0 * t / grand) for op, t in totals.items()), key=lambda x: -x[1])


def _status_mb(pid: int | None, field: str) -> float:
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_mb(pid: int | None = None) -> float:
    """Resident memory now (this process by default)."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far."""
    return _status_mb(pid, "VmHWM")


def bench_node(
    model: Path,
    providers: str,
    frame: np.ndarray,
    rates: list[float],
    seconds: float,
    memory_frames: int,
    inference_thread: bool = True,
) -> dict:
    """Publish ``frame`` to a real node process at each rate (0 = as fast as possible) and time the overlays."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image

    namespace = f"/bench{os.getpid()}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [
        sys.executable,
        "-m",
        "ros_road_seg.node",
        "--ros-args",
        "-r",
        f"__ns:={namespace}",
        "-p",
        f"model_path:={model}",
        "-p",
        f"providers:={providers}",
        "-p",
        "diagnostics_period:=0.25",
        "-p",
        f"inference_thread:={'true' if inference_thread else 'false'}",
    ]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    node = rclpy.create_node("road_seg_bench", namespace=namespace)
    arrivals: list[tuple[int, int]] = []
    diagnostics: dict[str, str] = {}

    def on_overlay(msg) -> None:
        arrivals.append((time.time_ns(), msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec))

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "frames_served" in values:
                diagnostics.update(values)

    from diagnostic_msgs.msg import DiagnosticArray

    node.create_subscription(
        Image, "road_overlay", on_overlay, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    publisher = node.create_publisher(Image, "image", qos_profile_sensor_data)
    message = array_to_image_msg(frame, "rgb8")
    message.header.frame_id = "camera_color_left"
    results = {}
    try:
        deadline = time.monotonic() + 60
        while publisher.get_subscription_count() == 0 or node.count_publishers(f"{namespace}/road_overlay") == 0:
            rclpy.spin_once(node, timeout_sec=0.05)
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("road_seg_node did not come up:\n" + (process.stdout.read() or ""))
        _spin(node, 1.0)
        for rate in rates:
            results["max" if rate == 0 else f"{rate:g} Hz"] = _node_run(
                node, publisher, message, arrivals, diagnostics, rate, seconds
            )
        memory = {}
        served_start = int(diagnostics.get("frames_served", 0))
        checkpoints = {100: None, memory_frames: None}
        start = time.monotonic()
        while time.monotonic() - start < 600 and checkpoints[memory_frames] is None:
            message.header.stamp.sec, message.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
            publisher.publish(message)
            _spin(node, 0.02)
            served = int(diagnostics.get("frames_served", 0)) - served_start
            for mark in checkpoints:
                if checkpoints[mark] is None and served >= mark:
                    checkpoints[mark] = rss_mb(process.pid)
        memory = {
            "rss_after_100_mb": checkpoints[100],
            f"rss_after_{memory_frames}_mb": checkpoints[memory_frames],
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
        results["memory"] = memory
        results["provider"] = diagnostics.get("provider", "?")
    finally:
        node.destroy_node()
        rclpy.shutdown()
        process.send_signal(2)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    return results


def _spin(node, seconds: float) -> None:
    import rclpy

    end = time.monotonic() + seconds
    while True:
        rclpy.spin_once(node, timeout_sec=max(0.0, min(0.005, end - time.monotonic())))
        if time.monotonic() >= end:
            return


def _node_run(node, publisher, message, arrivals, diagnostics, rate: float, seconds: float) -> dict:
    arrivals.clear()
    _spin(node, 0.6)
    before = dict(diagnostics)
    sent, stamps = 0, set()
    start = time.monotonic()
    period = 1.0 / rate if rate else 0.0
    while time.monotonic() - start < seconds:
        if rate:
            target = start + sent * period
            while time.monotonic() < target:
                _spin(node, min(0.002, max(0.0, target - time.monotonic())))
        now = time.time_ns()
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(now, 1_000_000_000)
        stamps.add(now)
        publisher.publish(message)
        sent += 1
        if not rate:
            _spin(node, 0.0)
    elapsed = time.monotonic() - start
    _spin(node, 1.5)
    ours = [(arrived, stamp) for arrived, stamp in arrivals if stamp in stamps]
    latencies = [(arrived - stamp) / 1e9 for arrived, stamp in ours]
    after = dict(diagnostics)

    def delta(key: str) -> int:
        try:
            return int(after.get(key, 0)) - int(before.get(key, 0))
        except ValueError:
            return -1

    return {
        "sent": sent,
        "received": len(ours),
        "received_ratio": len(ours) / max(sent, 1),
        "fps_out": len(ours) / elapsed,
        "node_dropped_stale": delta("frames_dropped_stale"),
        "node_lost_in_transport": delta("frames_lost_in_transport"),
        **summarize_ms(latencies),
    }


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def markdown(report: dict) -> str:
    info = report["machine"]
    lines = [
        f"Model `{report['model']}` ({report['provider']}), {info['cpu']}, {info['cores']} cores; onnxruntime "
        f"{info['onnxruntime']}, OpenCV {info['opencv']}, NumPy {info['numpy']}, Python {info['python']}.",
        "",
        "| pipeline | frame | p50 ms | p90 ms | p99 ms | max ms | FPS (1/p50) | RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        if "skipped" in row:
            lines.append(f"| {row['pipeline']} | {row['frame']} | {row['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {row['pipeline']} | {row['frame']} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['max_ms']:.2f} | {1000.0 / row['p50_ms']:.1f} | "
            f"{row.get('rss_mb', float('nan')):.0f} |"
        )
    if report.get("variants"):
        lines += [
            "",
            "Tuning choices (1242x375 KITTI frames):",
            "",
            "| variant | p50 ms | p99 ms | mean IoU |",
            "|---|---|---|---|",
        ]
        for row in report["variants"]:
            iou = row.get("mean_iou")
            lines.append(
                f"| {row['variant']} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | "
                f"{'' if iou is None or iou != iou else f'{iou:.4f}'} |"
            )
    if report.get("profile"):
        lines += [
            "",
            "Where the raw model's time goes (ONNX Runtime profile, share of kernel time): "
            + ", ".join(f"{op} {share:.1f} %" for op, share in report["profile"][:6]),
        ]
    if report.get("ratios"):
        lines += ["", "Ratios of p50 at 1242x375: " + ", ".join(f"{k} = {v:.2f}" for k, v in report["ratios"].items())]
    for label, node in report.get("node", {}).items():
        lines += [
            "",
            f"Node end to end, 1242x375, {label} (publisher process -> node process -> subscriber; "
            "latency = arrival - header stamp):",
            "",
            "| input rate | sent | received | received/sent | FPS out | p50 ms | p90 ms | p99 ms | max ms | "
            "dropped stale | lost in transport |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for rate, run in node.items():
            if rate in ("memory", "provider"):
                continue
            lines.append(
                f"| {rate} | {run['sent']} | {run['received']} | {run['received_ratio']:.3f} | "
                f"{run['fps_out']:.1f} | {run['p50_ms']:.1f} | {run['p90_ms']:.1f} | {run['p99_ms']:.1f} | "
                f"{run['max_ms']:.1f} | {run['node_dropped_stale']} | {run['node_lost_in_transport']} |"
            )
        memory = node.get("memory", {})
        if memory:
            lines += ["", "Node memory: " + ", ".join(f"{k} {v:.1f}" for k, v in memory.items() if v is not None)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ros_road_seg.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--keras", type=Path, default=None, help=".keras of the same model, for the course pipeline")
    parser.add_argument("--providers", default="cpu", choices=("auto", "cpu", "cuda", "tensorrt"))
    parser.add_argument("--frames", type=Path, default=share_directory() / "sample_data" / "kitti" / "image_2")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--course-iterations", type=int, default=30)
    parser.add_argument("--node-rates", type=float, nargs="*", default=[10, 30, 0], help="Hz; 0 = as fast as possible")
    parser.add_argument("--node-seconds", type=float, default=10.0)
    parser.add_argument("--memory-frames", type=int, default=1000)
    parser.add_argument(
        "--node-modes",
        nargs="*",
        default=["thread"],
        choices=("thread", "callback"),
        help="inference on a worker thread and/or in the subscription callback",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=share_directory() / "sample_data" / "kitti" / "semantic",
        help="labels of --frames, for the IoU of the tuning variants",
    )
    parser.add_argument("--out", type=Path, default=None, help="write bench.md and bench.json here")
    args = parser.parse_args(argv)
    apply_fastdds_profile()

    segmenter = Segmenter(args.model, providers=args.providers)
    model_name = os.path.relpath(args.model) if not os.path.relpath(args.model).startswith("..") else args.model.name
    report = {"model": model_name, "provider": segmenter.provider, "machine": machine(), "rows": []}
    rows = report["rows"]
    print(f"benchmarking {args.model} on {segmenter.provider} ...", file=sys.stderr)
    size = f"{segmenter.input_size[1]}x{segmenter.input_size[0]}"
    rows.append(
        {
            "pipeline": "b) raw ONNX Runtime",
            "frame": f"{size} tensor",
            **summarize_ms(bench_raw_ort(segmenter, args.iterations)),
            "rss_mb": rss_mb(),
        }
    )
    for label, frame_size in SWEEP.items():
        frames = load_frames(args.frames, frame_size)
        rows.append(
            {
                "pipeline": "c) our core end to end",
                "frame": label,
                **summarize_ms(time_calls(segmenter.segment, frames, args.iterations)),
                "rss_mb": rss_mb(),
            }
        )
    course, description = course_pipeline(args.keras, segmenter.threshold)
    for label, frame_size in SWEEP.items():
        if course is None:
            rows.append({"pipeline": "a) course pipeline", "frame": label, "skipped": description})
            continue
        frames = load_frames(args.frames, frame_size)
        rows.append(
            {
                "pipeline": "a) course pipeline",
                "frame": label,
                **summarize_ms(time_calls(course, frames, args.course_iterations, warmup=3)),
                "rss_mb": rss_mb(),
            }
        )
    by_key = {(r["pipeline"][0], r["frame"]): r for r in rows if "p50_ms" in r}
    ratios = {}
    core = by_key.get(("c", "1242x375"))
    raw = by_key.get(("b", f"{size} tensor"))
    if core and raw:
        ratios["c/b"] = core["p50_ms"] / raw["p50_ms"]
    if course is not None and core:
        ratios["a/c"] = by_key[("a", "1242x375")]["p50_ms"] / core["p50_ms"]
    report["node"] = {}
    if args.node_rates:
        frame = load_frames(args.frames, SWEEP["1242x375"])[0]
        for mode in args.node_modes:
            label = "inference on a worker thread" if mode == "thread" else "inference in the callback"
            print(f"node run: {label} ...", file=sys.stderr)
            node = bench_node(
                args.model,
                args.providers,
                frame,
                args.node_rates,
                args.node_seconds,
                args.memory_frames,
                inference_thread=(mode == "thread"),
            )
            report["node"][label] = node
            fastest = node.get("max") or next(v for k, v in node.items() if k not in ("memory", "provider"))
            if raw and mode == "thread":
                ratios["d/b"] = fastest["p50_ms"] / raw["p50_ms"]
    report["ratios"] = ratios
    kitti_frames = load_frames(args.frames, SWEEP["1242x375"])
    labels = []
    if args.labels and Path(args.labels).is_dir():
        from ros_road_seg.labels import read_label, road_masks

        labels = [road_masks(read_label(p), "kitti")[0] for p in sorted(Path(args.labels).glob("*.png"))]
        if len(labels) != len(kitti_frames):
            labels = []
    report["variants"] = compare_variants(segmenter, kitti_frames, labels, args.iterations)
    report["profile"] = profile_operators(args.model)
    report["peak_rss_bench_process_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench.md").write_text(text)
        (args.out / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
