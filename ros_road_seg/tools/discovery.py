"""Waiting for the ROS graph: 'matched' is not yet 'delivering', so every tool waits the same way."""

from __future__ import annotations

import time

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
