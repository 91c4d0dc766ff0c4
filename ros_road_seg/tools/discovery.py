"""Waiting for the ROS graph: 'matched' is not yet 'delivering', so every tool waits the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SETTLE_S = 1.0  # after matching, transports (shared memory, UDP) still connect; frames sent at once can be lost


def wait_until_matched(node, endpoints, timeout: float, settle: float = SETTLE_S, minimum: int = 1) -> bool:
    """Spin ``node`` until every publisher has ``minimum`` subscribers and every subscription ``minimum`` publishers,
    then ``settle`` seconds more. True when matched within ``timeout``."""
    import rclpy

    endpoints = list(endpoints)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_matched(endpoint, minimum) for endpoint in endpoints):
            spin_for(node, settle)
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return False


def _matched(endpoint, minimum: int = 1) -> bool:
    if hasattr(endpoint, "get_subscription_count"):
        return endpoint.get_subscription_count() >= minimum
    return endpoint.get_publisher_count() >= minimum


def spin_for(node, seconds: float) -> None:
    """Spin ``node`` for ``seconds`` (callbacks run; returns on time even when nothing arrives)."""
    import rclpy

    end = time.monotonic() + seconds
    while True:
        rclpy.spin_once(node, timeout_sec=max(0.0, min(0.01, end - time.monotonic())))
        if time.monotonic() >= end:
            return


@contextmanager
def spinning_in_background(node) -> Iterator[None]:
    """``node``'s callbacks on a thread of their own until the block ends, woken by what arrives (no polling), so a
    publisher that paces itself with ``time.sleep`` takes no CPU from the process it measures in between."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)

    thread = threading.Thread(target=run, name="spin", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        executor.remove_node(node)
        executor.shutdown()
