"""tools.discovery: a node's callbacks on a thread of their own (the bench's publisher then sleeps between frames
instead of polling), and the node spins as before once the block ends."""

from __future__ import annotations

import os
import time

from ros_road_seg.tools.discovery import spin_for, spinning_in_background, wait_until_matched


def test_callbacks_run_in_the_background_and_the_node_spins_again_after(ros_context):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    node = rclpy.create_node("discovery_test", namespace=f"/discovery{os.getpid()}")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    received: list[str] = []
    subscription = node.create_subscription(String, "chatter", lambda msg: received.append(msg.data), qos)
    publisher = node.create_publisher(String, "chatter", qos)
    try:
        assert wait_until_matched(node, [publisher, subscription], timeout=20)
        with spinning_in_background(node):
            for index in range(5):
                publisher.publish(String(data=str(index)))
                time.sleep(0.05)  # nobody spins in this thread
            deadline = time.monotonic() + 5
            while len(received) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert received == ["0", "1", "2", "3", "4"]
        publisher.publish(String(data="after"))
        spin_for(node, 1.0)  # the node left the background executor: the usual spinning reaches it again
        assert received[-1] == "after"
    finally:
        node.destroy_node()
