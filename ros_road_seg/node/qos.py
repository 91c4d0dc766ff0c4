"""Subscription QoS as a choice (parameters ``image_qos``, ``camera_info_qos`` and their depths).

``sensor_data`` (best effort, volatile) is the default for both camera topics: a best-effort subscription matches
best-effort *and* reliable publishers, which is what camera drivers and simulators publish. ``reliable`` only
matches reliable publishers (use it to get every frame of a reliable bag replay); ``system_default`` is the RMW's.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

QOS_CHOICES = ("sensor_data", "reliable", "system_default")


def subscription_qos(choice: str, depth: int) -> QoSProfile:
    """The QoS profile for a ``*_qos`` parameter value and its depth (keep last ``depth``)."""
    if choice not in QOS_CHOICES:
        raise ValueError(f"QoS '{choice}' is not one of {', '.join(QOS_CHOICES)}")
    if depth < 1:
        raise ValueError(f"QoS depth {depth} must be >= 1")
    if choice == "system_default":
        return QoSProfile(
            depth=depth,
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
            durability=DurabilityPolicy.SYSTEM_DEFAULT,
        )
    reliability = ReliabilityPolicy.BEST_EFFORT if choice == "sensor_data" else ReliabilityPolicy.RELIABLE
    return QoSProfile(
        depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=reliability, durability=DurabilityPolicy.VOLATILE
    )
