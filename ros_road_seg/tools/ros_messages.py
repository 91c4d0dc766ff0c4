"""Small conversions every tool needs on ROS messages: header stamps <-> nanoseconds, diagnostics -> dict."""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` (a header stamp, a /clock value) as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def set_stamp(stamp, nanoseconds: int) -> None:
    """Write integer nanoseconds into a ``builtin_interfaces/Time`` in place."""
    stamp.sec, stamp.nanosec = divmod(int(nanoseconds), NS_PER_S)


def diagnostic_values(msg, key: str = "frames_served") -> dict[str, str]:
    """The key/value pairs of the first status in a ``DiagnosticArray`` that reports ``key`` (the node's own), or
    an empty dict when none does."""
    for status in msg.status:
        values = {kv.key: kv.value for kv in status.values}
        if key in values:
            return values
    return {}
