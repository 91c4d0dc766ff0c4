"""The managed node driven through the real lifecycle_msgs services from this (another) process."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from ros_harness import Client, NodeProcess, make_image_msg

LABELS = {
    State.PRIMARY_STATE_UNCONFIGURED: "unconfigured",
    State.PRIMARY_STATE_INACTIVE: "inactive",
    State.PRIMARY_STATE_ACTIVE: "active",
    State.PRIMARY_STATE_FINALIZED: "finalized",
}


class Manager:
    """A lifecycle manager in miniature: change_state / get_state on ``<ns>/road_seg``."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.node = client.node
        self.change = self.node.create_client(ChangeState, f"{namespace}/road_seg/change_state")
        self.get = self.node.create_client(GetState, f"{namespace}/road_seg/get_state")
        assert self.change.wait_for_service(20.0) and self.get.wait_for_service(20.0)
        self.log: list[str] = []

    def _call(self, client, request):
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=30.0)
        assert future.done(), "lifecycle service did not answer"
        return future.result()

    def state(self) -> str:
        return LABELS.get(self._call(self.get, GetState.Request()).current_state.id, "?")

    def transition(self, transition_id: int, label: str, final: bool = False) -> bool:
        """Request a transition; log its outcome and the state after it (not after a final shutdown: the node is
        gone by then)."""
        request = ChangeState.Request()
        request.transition.id = transition_id
        started = time.monotonic()
        success = self._call(self.change, request).success
        after = "finalized (process exits)" if final and success else self.state()
        self.log.append(f"{label}: {'ok' if success else 'FAILED'} in {time.monotonic() - started:.2f} s -> {after}")
        return success


def test_bad_model_fails_configure_and_the_process_stays_up(ros_context, tmp_path):
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(b"this is not ONNX")
    namespace = "/lc" + uuid.uuid4().hex[:6]
    node = NodeProcess(
        {"model_path": str(bad), "providers": "cpu"}, namespace, module="ros_road_seg.node.lifecycle_node"
    )
    client = Client(namespace)
    try:
        assert node.wait_for_output("waiting for 'configure'", 30), node.output
        manager = Manager(client, namespace)
        assert not manager.transition(Transition.TRANSITION_CONFIGURE, "configure")
        assert manager.state() == "unconfigured"
        assert node.wait_for_output("configure failed: model_path", 5), node.output
        assert "could not be loaded by ONNX Runtime" in node.output
        assert node.process.poll() is None, "a failed configure must not end the process"
    finally:
        client.close()
        assert node.stop() == 0, node.output


def test_configure_activate_deactivate_cleanup_shutdown(ros_context, red_model):
    namespace = "/lc" + uuid.uuid4().hex[:6]
    node = NodeProcess(
        {"model_path": str(red_model), "providers": "cpu"}, namespace, module="ros_road_seg.node.lifecycle_node"
    )
    client = Client(namespace)
    frame = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    try:
        assert node.wait_for_output("waiting for 'configure'", 30), node.output
        manager = Manager(client, namespace)
        assert manager.state() == "unconfigured"
        assert client.publisher.get_subscription_count() == 0

        assert manager.transition(Transition.TRANSITION_CONFIGURE, "configure")
        client.spin_for(1.0)
        assert client.publisher.get_subscription_count() == 0, "inactive: not yet subscribed"

        assert manager.transition(Transition.TRANSITION_ACTIVATE, "activate")
        assert client.wait_connected(), node.output
        mask, _ = client.roundtrip(make_image_msg(frame, "rgb8", stamp_sec=1))
        assert (mask.width, mask.height) == (80, 60)

        assert manager.transition(Transition.TRANSITION_DEACTIVATE, "deactivate")
        client.spin_for(1.0)
        before = len(client.masks)
        for stamp in range(2, 7):
            client.publisher.publish(make_image_msg(frame, "rgb8", stamp_sec=stamp))
            client.spin_for(0.2)
        client.spin_for(1.0)
        assert len(client.masks) == before, "deactivated: nothing may be published"
        assert client.publisher.get_subscription_count() == 0

        assert manager.transition(Transition.TRANSITION_CLEANUP, "cleanup")
        assert node.wait_for_output("model session freed", 5)

        assert manager.transition(Transition.TRANSITION_CONFIGURE, "configure again")
        assert manager.transition(Transition.TRANSITION_ACTIVATE, "activate again")
        assert client.wait_connected(), node.output
        client.roundtrip(make_image_msg(frame, "rgb8", stamp_sec=10))

        assert manager.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN, "shutdown", final=True)
        code = node.process.wait(15)
        print("\n[lifecycle] " + "\n[lifecycle] ".join(manager.log) + f"\n[lifecycle] process exit code {code}")
        assert code == 0 and "Traceback" not in node.output, node.output
    finally:
        client.close()
        node.stop()


@pytest.mark.parametrize("transition", ["activate before configure"])
def test_invalid_transition_is_refused(ros_context, red_model, transition):
    namespace = "/lc" + uuid.uuid4().hex[:6]
    node = NodeProcess(
        {"model_path": str(red_model), "providers": "cpu"}, namespace, module="ros_road_seg.node.lifecycle_node"
    )
    client = Client(namespace)
    try:
        assert node.wait_for_output("waiting for 'configure'", 30), node.output
        manager = Manager(client, namespace)
        assert not manager.transition(Transition.TRANSITION_ACTIVATE, transition)
        assert manager.state() == "unconfigured" and node.process.poll() is None
    finally:
        client.close()
        assert node.stop() == 0, node.output
