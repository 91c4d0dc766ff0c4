"""``bag_replay``: play a ROS 2 bag (MCAP or sqlite3) into the graph with rclpy at its recorded pace.

The package's stand-in for ``ros2 bag play`` where the ROS 2 CLI is absent: ``--rate``, ``--loop``, ``--topics``,
sensor-data QoS, and ``/clock`` with ``--clock``. Messages go out as the recorded CDR bytes (no re-encoding).
It loads the shared-memory Fast DDS profile so camera-sized frames reach other processes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ros_road_seg.discovery import wait_until_matched
from ros_road_seg.errors import BagError
from ros_road_seg.paths import apply_fastdds_profile
from ros_road_seg.ros_messages import set_stamp

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


def replay(
    path: Path,
    rate: float = 1.0,
    loop: int = 1,
    topics: list[str] | None = None,
    clock: bool = False,
    wait_for_subscribers: float = 5.0,
    node=None,
) -> dict:
    """Publish the bag's messages at ``rate`` x recorded speed, ``loop`` times (0 = forever). Returns counts."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock

    if rate <= 0:
        raise BagError(f"--rate {rate} must be > 0")
    reader = open_bag(path)
    try:
        connections = select_connections(reader, topics, Path(path))
        own_node = node is None
        if own_node:
            node = rclpy.create_node("bag_replay")
        publishers = {
            c.id: node.create_publisher(_message_class(c.msgtype), c.topic, qos_profile_sensor_data)
            for c in connections
        }
        clock_pub = node.create_publisher(Clock, "/clock", 10) if clock else None
        wait_until_matched(node, publishers.values(), wait_for_subscribers)  # best effort: plays on regardless
        sent = {c.topic: 0 for c in connections}
        topic_of = {c.id: c.topic for c in connections}
        iteration = 0
        loop_gap_s = 0.0  # a loop starts one mean message interval after the last one, not back to back
        try:
            while loop == 0 or iteration < loop:
                iteration += 1
                start_wall, start_bag, last_bag, count = None, None, None, 0
                if iteration > 1:
                    time.sleep(loop_gap_s)
                for connection, timestamp, raw in _checked_messages(reader, connections, path):
                    count += 1
                    last_bag = timestamp
                    if start_wall is None:
                        start_wall, start_bag = time.monotonic(), timestamp
                    delay = (timestamp - start_bag) / 1e9 / rate - (time.monotonic() - start_wall)
                    if delay > 0:
                        time.sleep(delay)
                    if clock_pub is not None:
                        message = Clock()
                        set_stamp(message.clock, timestamp)
                        clock_pub.publish(message)
                    publishers[connection.id].publish(bytes(raw))
                    sent[topic_of[connection.id]] += 1
                    rclpy.spin_once(node, timeout_sec=0)
                if count > 1:
                    loop_gap_s = (last_bag - start_bag) / 1e9 / (count - 1) / rate
            linger = time.monotonic() + 0.5  # let the middleware deliver the last frames before the node goes
            while time.monotonic() < linger:
                rclpy.spin_once(node, timeout_sec=0.05)
        finally:
            if own_node:
                node.destroy_node()
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001 - closing a damaged bag may fail too; the first error is reported
            pass
    return {"sent": sent, "loops": iteration}


def _checked_messages(reader, connections, path):
    """reader.messages(), with damage found while reading (truncated MCAP, corrupt sqlite3) as a BagError."""
    messages = reader.messages(connections=connections)
    while True:
        try:
            item = next(messages)
        except StopIteration:
            return
        except Exception as error:  # noqa: BLE001 - rosbags, mcap, sqlite3 and zstd raise their own types
            raise BagError(f"bag '{path}' is damaged: {type(error).__name__}: {error}") from None
        yield item


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bag_replay", description=__doc__)
    parser.add_argument("bag", type=Path)
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--loop", type=int, default=1, help="times to play (0 = forever)")
    parser.add_argument("--topics", nargs="+", default=None, help="topics to play (default: image + camera_info)")
    parser.add_argument("--clock", action="store_true", help="publish /clock from the bag's timestamps")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for subscribers before playing")
    args, ros_args = parser.parse_known_args(argv)
    apply_fastdds_profile()
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=ros_args)
    try:
        result = replay(args.bag, args.rate, args.loop, args.topics, args.clock, args.wait)
    except BagError as error:
        print(f"bag_replay: error: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    print(
        "bag_replay: sent "
        + ", ".join(f"{n} on {t}" for t, n in result["sent"].items())
        + f" ({result['loops']} loop{'s' if result['loops'] != 1 else ''})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
