"""Writing ROS 2 bags (MCAP or sqlite3, rosbag2 metadata version 9) with rosbags, the way rosbag2 does.

A bag is written next to its destination and renamed into place only when complete, so a failed run leaves nothing
that looks like a bag. Each topic records the QoS its publisher offered (``ros2 bag play`` republishes with it):
reliable, volatile, keep last 10, what a camera driver such as image_publisher offers and what any subscriber
(``ros2 topic echo``, image_view, a default rclpy/rclcpp node) can receive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from ros_road_seg.core.errors import BagError, one_line

STORAGES = ("mcap", "sqlite3")
_INFINITE = QosTime(sec=2147483647, nsec=4294967295)  # how rclpy/rosbag2 write "no deadline / lifespan / lease"
RELIABLE_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=10,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.VOLATILE,
    deadline=_INFINITE,
    lifespan=_INFINITE,
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=_INFINITE,
    avoid_ros_namespace_conventions=False,
)


class BagFile:
    """``with BagFile(out, storage) as bag: bag.write(topic, msgtype, stamp_ns, cdr)`` -> a complete bag at ``out``."""

    def __init__(self, out: Path, storage: str = "mcap", qos: Qos = RELIABLE_QOS) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.out = Path(out)
        if self.out.exists():
            raise BagError(f"output '{self.out}' already exists; choose another --out or delete it")
        if storage not in STORAGES:
            raise BagError(f"storage '{storage}' is not one of {', '.join(STORAGES)}")
        self.typestore = get_typestore(Stores.LATEST)
        self.qos = qos
        self._partial = self.out.parent / f".{self.out.name}.partial"  # the bag's file takes its folder's name
        self.staging = self._partial / self.out.name
        shutil.rmtree(self._partial, ignore_errors=True)
        self._partial.mkdir(parents=True)
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
        self.writer = Writer(self.staging, version=9, storage_plugin=plugin)
        self.writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msgtype: str, stamp_ns: int, cdr: bytes) -> None:
        """One serialized message (``typestore.serialize_cdr`` or ``rclpy.serialization.serialize_message``)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self.writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=[self.qos]
            )
            self._connections[topic] = connection
        self.writer.write(connection, stamp_ns, cdr)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def serialize(self, message, msgtype: str) -> bytes:
        return self.typestore.serialize_cdr(message, msgtype)

    def __enter__(self) -> BagFile:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            if kind is None:
                raise
        if kind is not None:
            shutil.rmtree(self._partial, ignore_errors=True)
            return
        self.finish_hook()
        self.staging.rename(self.out)
        self._partial.rmdir()

    def close_what_arrived(self) -> str:
        """After a failure while recording (a full disk): close the bag with what was written and move it into place;
        if even closing fails, leave the staging folder (its data file readable up to the failure). Says which."""
        try:
            self.writer.close()
            self.finish_hook()
            self.staging.rename(self.out)
            self._partial.rmdir()
            return f"bag '{self.out}' closed with {sum(self.counts.values())} messages"
        except Exception as error:  # noqa: BLE001 - the disk is full or gone: say where the pieces are
            return f"bag could not be closed ({one_line(error)}); its partial data is in '{self.staging}'"

    def finish_hook(self) -> None:
        """Extra files beside metadata.yaml, written before the bag is moved into place (override or assign)."""
