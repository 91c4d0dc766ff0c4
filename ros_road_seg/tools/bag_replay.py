"""``bag_replay``: play a ROS 2 bag (MCAP or sqlite3) into the graph with rclpy at its recorded pace.

The package's stand-in for ``ros2 bag play`` where rosbag2 is absent, with its options: ``--rate``,
``--start-offset``, ``--loop N`` (0 = forever), ``--topics``, ``--clock HZ`` (/clock at a steady rate), and QoS like
rosbag2 (the recorded offered QoS when the bag has it, reliable otherwise; ``--qos`` to force one). Messages go out
as the recorded CDR bytes (no re-encoding). It loads the shared-memory Fast DDS profile so camera-sized frames reach
other processes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import BagError, exit_codes
from ros_road_seg.core.paths import apply_fastdds_profile
from ros_road_seg.tools.discovery import wait_until_matched
from ros_road_seg.tools.ros_messages import set_stamp

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def _message_class(msgtype: str):
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    classes = {
        "sensor_msgs/msg/Image": Image,
        "sensor_msgs/msg/CompressedImage": CompressedImage,
        "sensor_msgs/msg/CameraInfo": CameraInfo,
    }
    return classes.get(msgtype)


def open_bag(path: Path):
    """A rosbags Reader, opened; a missing, truncated or corrupt bag is a BagError naming it."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise BagError(f"bag '{path}' does not exist")
    if not (path / "metadata.yaml").is_file():  # rosbags' own words name the folder as its metadata file
        what = "a file: give the bag folder that holds it" if path.is_file() else "a folder without metadata.yaml"
        raise BagError(f"bag '{path}' is {what} (a rosbag2 bag is the folder `ros2 bag record` writes)")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises several types for damaged bags
        raise BagError(f"bag '{path}' cannot be read: {error}") from None
    return reader


def select_connections(reader, topics: list[str] | None, path: Path):
    """The connections to play: the requested topics (each must exist), else every image/camera topic."""
    by_topic = {}
    for connection in reader.connections:
        by_topic.setdefault(connection.topic, connection)
    if topics:
        missing = [t for t in topics if t not in by_topic]
        if missing:
            raise BagError(f"bag '{path}' has no topic {', '.join(missing)} (it has: {', '.join(sorted(by_topic))})")
        chosen = [by_topic[t] for t in topics]
    else:
        chosen = [c for c in by_topic.values() if _message_class(c.msgtype) is not None]
    unsupported = [f"{c.topic} ({c.msgtype})" for c in chosen if _message_class(c.msgtype) is None]
    if unsupported:
        raise BagError(
            f"bag '{path}': cannot replay {', '.join(unsupported)}; supported types: Image, CompressedImage, CameraInfo"
        )
    if not any(c.msgtype in IMAGE_TYPES for c in chosen):
        raise BagError(
            f"bag '{path}' has no sensor_msgs/Image or CompressedImage topic to replay "
            f"(it has: {', '.join(f'{c.topic} ({c.msgtype})' for c in by_topic.values()) or 'nothing'})"
        )
    return chosen


QOS_CHOICES = ("recorded", "reliable", "best_effort")


def publisher_qos(connection, choice: str = "recorded"):
    """The QoS to publish a topic with, as ``ros2 bag play`` does: the recorded offered QoS when the bag has it
    (reliability, durability, history depth of its first publisher), reliable otherwise; or ``choice`` forced."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rosbags.interfaces import QosDurability, QosHistory, QosReliability

    if choice not in QOS_CHOICES:
        raise BagError(f"--qos '{choice}' is not one of {', '.join(QOS_CHOICES)}")
    profile = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
    recorded = list(getattr(getattr(connection, "ext", None), "offered_qos_profiles", None) or [])
    if choice == "recorded" and recorded:
        offered = recorded[0]
        if offered.reliability == QosReliability.BEST_EFFORT:
            profile.reliability = ReliabilityPolicy.BEST_EFFORT
        if offered.durability == QosDurability.TRANSIENT_LOCAL:
            profile.durability = DurabilityPolicy.TRANSIENT_LOCAL
        if offered.history == QosHistory.KEEP_LAST and offered.depth > 0:
            profile.depth = int(offered.depth)
    elif choice == "best_effort":
        profile.reliability = ReliabilityPolicy.BEST_EFFORT
    return profile


def describe_qos(profile) -> str:
    return f"{profile.reliability.name.lower()}, {profile.durability.name.lower()}, depth {profile.depth}"


def replay(
    path: Path,
    rate: float = 1.0,
    loop: int = 1,
    topics: list[str] | None = None,
    clock_hz: float = 0.0,
    wait_for_subscribers: float = 5.0,
    qos: str = "recorded",
    start_offset: float = 0.0,
    node=None,
    subscribers: int = 1,
) -> dict:
    """Publish the bag's messages at ``rate`` x recorded speed, ``loop`` times (0 = forever), from ``start_offset``
    seconds into the bag, each topic with :func:`publisher_qos`. With ``clock_hz`` > 0, /clock carries the bag's
    time at that steady rate while playing. Returns counts (sent per topic, loops, /clock messages)."""
    import rclpy
    from rosgraph_msgs.msg import Clock

    if rate <= 0:
        raise BagError(f"--rate {rate} must be > 0")
    if start_offset < 0:
        raise BagError(f"--start-offset {start_offset} must be >= 0")
    if clock_hz < 0:
        raise BagError(f"--clock {clock_hz} must be >= 0 Hz")
    reader = open_bag(path)
    try:
        connections = select_connections(reader, topics, Path(path))
        own_node = node is None
        if own_node:
            node = rclpy.create_node("bag_replay")
        profiles = {c.id: publisher_qos(c, qos) for c in connections}
        publishers = {
            c.id: node.create_publisher(_message_class(c.msgtype), c.topic, profiles[c.id]) for c in connections
        }
        clock_pub = node.create_publisher(Clock, "/clock", 10) if clock_hz else None
        first_ns = reader.start_time + int(start_offset * 1e9)
        if first_ns > reader.end_time:
            raise BagError(
                f"--start-offset {start_offset} s is past the end of '{path}' ({reader.duration / 1e9:.2f} s)"
            )
        # best effort: plays on regardless after the wait
        wait_until_matched(node, publishers.values(), wait_for_subscribers, minimum=subscribers)
        player = _Player(node, clock_pub, clock_hz, rate, reader.end_time)
        sent = {c.topic: 0 for c in connections}
        topic_of = {c.id: c.topic for c in connections}
        iteration = 0
        loop_gap_s = 0.0  # a loop starts one mean message interval after the last one, not back to back
        try:
            while loop == 0 or iteration < loop:
                iteration += 1
                if iteration > 1:
                    player.wait_wall(loop_gap_s)
                player.start(first_ns)
                last_bag, count = first_ns, 0
                for connection, timestamp, raw in checked_messages(reader, connections, path, first_ns):
                    player.wait_until(timestamp)
                    publishers[connection.id].publish(bytes(raw))
                    sent[topic_of[connection.id]] += 1
                    count, last_bag = count + 1, timestamp
                if count > 1:
                    loop_gap_s = (last_bag - first_ns) / 1e9 / (count - 1) / rate
            player.clock_pub = None  # playback is over: the clock stops with it
            player.wait_wall(0.5)  # let the middleware deliver the last frames before the node goes
        finally:
            if own_node:
                node.destroy_node()
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001 - closing a damaged bag may fail too; the first error is reported
            pass
    return {
        "sent": sent,
        "loops": iteration,
        "clock_messages": player.clock_messages,
        "qos": {topic_of[c]: describe_qos(p) for c, p in profiles.items()},
    }


class _Player:
    """Bag time <-> wall time at ``rate``; sleeps while spinning, and ticks /clock at ``clock_hz`` meanwhile (never
    past the bag's last message: between loops the clock waits there)."""

    def __init__(self, node, clock_pub, clock_hz: float, rate: float, end_ns: int) -> None:
        self.node, self.clock_pub, self.rate, self.end_ns = node, clock_pub, rate, end_ns
        self.clock_period = 1.0 / clock_hz if clock_hz else 0.0
        self.clock_messages = 0
        self.start_wall = time.monotonic()
        self.start_bag = 0
        self.next_tick = self.start_wall

    def start(self, bag_ns: int) -> None:
        self.start_wall, self.start_bag = time.monotonic(), bag_ns
        self.next_tick = self.start_wall

    def bag_now(self) -> int:
        return min(self.end_ns, self.start_bag + int((time.monotonic() - self.start_wall) * self.rate * 1e9))

    def wait_until(self, bag_ns: int) -> None:
        """Return when the bag's clock reaches ``bag_ns``, publishing /clock ticks on the way."""
        due = self.start_wall + (bag_ns - self.start_bag) / 1e9 / self.rate
        self._wait(due)

    def wait_wall(self, seconds: float) -> None:
        self._wait(time.monotonic() + seconds)

    def _wait(self, due: float) -> None:
        import rclpy

        while True:
            now = time.monotonic()
            if self.clock_pub is not None and now >= self.next_tick:
                self._tick()
                self.next_tick += self.clock_period
                if self.next_tick < now:  # fell behind (a slow spin): keep the rate, do not burst
                    self.next_tick = now + self.clock_period
                continue
            if now >= due:
                rclpy.spin_once(self.node, timeout_sec=0)
                return
            until = due if self.clock_pub is None else min(due, self.next_tick)
            rclpy.spin_once(self.node, timeout_sec=max(0.0, min(0.05, until - now)))

    def _tick(self) -> None:
        from rosgraph_msgs.msg import Clock

        message = Clock()
        set_stamp(message.clock, self.bag_now())
        self.clock_pub.publish(message)
        self.clock_messages += 1


def checked_messages(reader, connections, path, start_ns: int | None = None):
    """reader.messages() from ``start_ns``, with damage found while reading (truncated MCAP, corrupt sqlite3) as a
    BagError."""
    messages = reader.messages(connections=connections, start=start_ns)
    while True:
        try:
            item = next(messages)
        except StopIteration:
            return
        except Exception as error:  # noqa: BLE001 - rosbags, mcap, sqlite3 and zstd raise their own types
            raise BagError(f"bag '{path}' is damaged: {type(error).__name__}: {error}") from None
        yield item


@exit_codes("bag_replay")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bag_replay", description=__doc__)
    parser.add_argument("bag", type=Path)
    parser.add_argument(
        "--rate", type=bounded_number(0.0, 1000.0, above=True), default=1.0, help="playback speed factor"
    )
    parser.add_argument(
        "--start-offset", type=bounded_number(0.0, 1e9), default=0.0, metavar="SECONDS", help="start this far in"
    )
    parser.add_argument("--loop", type=bounded_number(0, integer=True), default=1, help="times to play (0 = forever)")
    parser.add_argument("--topics", nargs="+", default=None, help="topics to play (default: image + camera_info)")
    parser.add_argument(
        "--clock",
        nargs="?",
        const=40.0,
        default=0.0,
        type=bounded_number(0.0, 1000.0),
        metavar="HZ",
        help="publish /clock with the bag's time at HZ (default 40, as ros2 bag play)",
    )
    parser.add_argument(
        "--qos", choices=QOS_CHOICES, default="recorded", help="publisher QoS (recorded: as in the bag, else reliable)"
    )
    parser.add_argument(
        "--wait", type=bounded_number(0.0), default=5.0, help="seconds to wait for subscribers before playing"
    )
    parser.add_argument(
        "--subscribers",
        type=bounded_number(1, 100, integer=True),
        default=1,
        help="subscribers each topic waits for (2: the node and a recorder), up to --wait seconds",
    )
    args, ros_args = parser.parse_known_args(argv)
    apply_fastdds_profile()
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=ros_args)
    try:
        result = replay(
            args.bag,
            args.rate,
            args.loop,
            args.topics,
            args.clock,
            args.wait,
            qos=args.qos,
            start_offset=args.start_offset,
            subscribers=args.subscribers,
        )
    except ExternalShutdownException:
        raise KeyboardInterrupt from None
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    clock = f", {result['clock_messages']} on /clock" if args.clock else ""
    print(
        "bag_replay: sent "
        + ", ".join(f"{n} on {t} ({result['qos'][t]})" for t, n in result["sent"].items())
        + f"{clock} ({result['loops']} loop{'s' if result['loops'] != 1 else ''})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
