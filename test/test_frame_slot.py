"""The latest-frame mailbox between the subscription and the inference thread: newest wins, drops are counted, and
the count stays cumulative across deactivate/activate like the node's other counters."""

from __future__ import annotations

from ros_road_seg.node.frame_slot import LatestFrameSlot


def test_newest_wins_and_replaced_frames_are_counted():
    slot = LatestFrameSlot()
    assert slot.put("a") is False
    assert slot.put("b") is True  # "a" was never processed
    assert slot.take(0) == "b" and slot.take(0) is None
    assert slot.dropped == 1


def test_drops_stay_counted_across_a_reactivation():
    """Before: activate made a new slot, so frames_dropped_stale restarted at 0 while every other counter went on."""
    slot = LatestFrameSlot()
    slot.put("a")
    slot.put("b")
    slot.close()  # deactivate
    assert slot.take(0) == "b"
    slot.reopen()  # activate again
    assert not slot.closed and slot.take(0) is None  # nothing stale served after the reactivation
    slot.put("c")
    slot.put("d")
    assert slot.dropped == 2
