"""Latency percentiles, rate counters, call timing and process memory: shared by the node, the demo, the tests
and the benchmarks."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np


class LatencyWindow:
    """The last ``size`` latencies in seconds, with percentiles in milliseconds; thread-safe, bounded memory."""

    def __init__(self, size: int = 1000) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def percentiles_ms(self, *quantiles: float) -> list[float]:
        """Percentiles (0-100) in ms; NaN when nothing was recorded."""
        with self._lock:
            values = np.fromiter(self._values, dtype=np.float64, count=len(self._values))
        if values.size == 0:
            return [float("nan")] * len(quantiles)
        return [float(v) * 1000.0 for v in np.percentile(values, quantiles)]

    def __len__(self) -> int:
        return len(self._values)


class StageTimings:
    """Per-stage latency windows (convert, preprocess, inference, postprocess, render, publish): where a frame's
    time goes, for /diagnostics and the bench's node rows."""

    STAGES = ("convert", "preprocess", "inference", "postprocess", "render", "publish")

    def __init__(self, size: int = 1000) -> None:
        self.windows = {stage: LatencyWindow(size) for stage in self.STAGES}

    def add(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.windows[stage].add(seconds)

    def summary(self) -> dict[str, str]:
        """``stage_<name>_p50_ms`` / ``_p99_ms`` for every stage that recorded something."""
        out = {}
        for stage, window in self.windows.items():
            if len(window):
                p50, p99 = window.percentiles_ms(50, 99)
                out[f"stage_{stage}_p50_ms"], out[f"stage_{stage}_p99_ms"] = f"{p50:.2f}", f"{p99:.2f}"
        return out


def summarize_ms(latencies_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50 / p90 / p99 / max in ms and the frame rate that the p50 allows, for benchmark tables."""
    values = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    if values.size == 0:
        return {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "n": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "max_ms": float(values.max()),
        "n": int(values.size),
    }


class RateCounter:
    """Counts events and reports the rate since the last report (for diagnostics' fps in/out)."""

    def __init__(self) -> None:
        self.total = 0
        self._last_total = 0
        self._last_time = time.monotonic()
        self._lock = threading.Lock()

    def tick(self, count: int = 1) -> None:
        with self._lock:
            self.total += count

    def rate_since_last(self) -> float:
        with self._lock:
            now = time.monotonic()
            elapsed = max(now - self._last_time, 1e-9)
            rate = (self.total - self._last_total) / elapsed
            self._last_total, self._last_time = self.total, now
        return rate


class SequenceGapCounter:
    """Frames lost before they reached us, from DDS publication sequence numbers (per publisher).

    A depth-1 best-effort subscription drops silently in the middleware; the gaps in each publisher's sequence
    numbers make those drops visible, so that sent - served = lost in transport + stale + bad. Frames a publisher
    sent before our first one from it (we joined late, or discovery was still settling) are counted apart, in
    `before_first`: they are not transport losses, but without them the books do not balance.
    """

    def __init__(self) -> None:
        self._last: dict[object, int] = {}
        self.lost = 0
        self.before_first = 0
        self.supported = True

    def observe(self, publisher_gid, sequence_number: int | None) -> None:
        if sequence_number is None or sequence_number <= 0:
            self.supported = False
            return
        key = _hashable(publisher_gid)
        previous = self._last.get(key)
        if previous is None:
            self.before_first += sequence_number - 1  # DDS writers number their samples from 1
        elif sequence_number > previous + 1:
            self.lost += sequence_number - previous - 1
        if previous is None or sequence_number > previous:
            self._last[key] = sequence_number
        if len(self._last) > 256:  # publishers come and go; keep memory bounded
            self._last.pop(next(iter(self._last)))


def _hashable(value) -> object:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, bytearray)):
        return tuple(value)
    return value


def time_calls(function, frames: list, iterations: int, warmup: int = 10) -> list[float]:
    """Seconds per call of ``function`` over ``frames`` in turn, after ``warmup`` untimed calls."""
    for index in range(warmup):
        function(frames[index % len(frames)])
    times = []
    for index in range(iterations):
        start = time.perf_counter()
        function(frames[index % len(frames)])
        times.append(time.perf_counter() - start)
    return times


def _status_mb(pid: int | None, field: str) -> float:
    """A memory field of /proc/PID/status in MB (NaN once the process is gone)."""
    try:
        text = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_mb(pid: int | None = None) -> float:
    """Resident memory now (this process by default)."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far."""
    return _status_mb(pid, "VmHWM")


def trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``): after one huge frame, RSS returns near
    idle instead of staying at its peak. A no-op where glibc is absent."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
