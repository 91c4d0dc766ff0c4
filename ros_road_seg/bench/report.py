"""The benchmark's markdown report and the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import cv2
import numpy as np


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
        stages = [(rate, run["stages"]) for rate, run in node.items() if isinstance(run, dict) and run.get("stages")]
        if stages:
            lines += ["", "Where the node's time goes (p50 / p99 ms per stage, from its /diagnostics):", ""]
            names = ["convert", "preprocess", "inference", "postprocess", "render", "publish"]
            lines += ["| input rate | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
            for rate, values in stages:
                cells = [
                    f"{values[f'stage_{n}_p50_ms']:.1f} / {values[f'stage_{n}_p99_ms']:.1f}"
                    if f"stage_{n}_p50_ms" in values
                    else "-"
                    for n in names
                ]
                lines.append(f"| {rate} | " + " | ".join(cells) + " |")
        memory = node.get("memory", {})
        if memory:
            lines += ["", "Node memory: " + ", ".join(f"{k} {v:.1f}" for k, v in memory.items() if v is not None)]
    budget = report.get("budget")
    if budget:
        lines += [
            "",
            f"Latency budget at 30 Hz: p99 <= 1.25 x (raw p50 {budget['raw_p50_ms']:.1f} ms + 10 ms) = "
            f"{budget['budget_p99_ms']:.1f} ms and >= 97 % served: "
            + "; ".join(
                f"{label}: p99 {v['p99_ms']:.1f} ms, {100 * v['received_ratio']:.1f} % -> "
                f"{'within' if v['within_budget'] else 'OVER'}"
                for label, v in budget["runs"].items()
            ),
        ]
    return "\n".join(lines) + "\n"
