"""record_overlay's recording side without ROS traffic: frames stream to disk as they arrive, output paths are checked
before recording, a full disk keeps (and names) what was written, a second Ctrl-C tells the truth."""

from __future__ import annotations

import errno
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.tools import record_overlay
from ros_road_seg.tools.bag_file import BagFile
from ros_road_seg.tools.record_overlay import FrameWriter, check_writable, finish_recording


def frame(value: int) -> np.ndarray:
    return np.full((30, 40, 3), value, np.uint8)


def fake_recorder(**extra):
    return types.SimpleNamespace(
        received=3, grids_received=0, grid_stamps=set(), diagnostics={}, scorer=None, flush=lambda: None, **extra
    )


def test_frames_are_on_disk_as_they_arrive_and_the_gif_is_made_from_them(tmp_path):
    writer = FrameWriter(tmp_path)
    for value in (10, 120, 250):
        writer.write(frame(value), None)
        written = cv2.imread(str(writer.pngs[-1]))
        assert written is not None and int(written[0, 0, 0]) == value  # on disk now, not at the end
    result = writer.finish()
    assert result["png_frames"] == 3 and Path(result["gif"]).is_file()


def test_a_long_recording_keeps_a_bounded_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(record_overlay, "GIF_MAX_FRAMES", 4)
    writer = FrameWriter(tmp_path)
    for value in range(10):
        writer.write(frame(value * 20), None)
    assert writer.finish()["gif_every"] == 3  # 10 frames, at most 4 in the preview


def test_unwritable_out_or_existing_bag_is_refused_before_recording(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RoadSegError, match="--out"):
        check_writable(blocker / "out", None)
    (tmp_path / "bag").mkdir()
    with pytest.raises(RoadSegError, match="already exists"):
        check_writable(tmp_path / "out", tmp_path / "bag")
    with pytest.raises(RoadSegError, match="not writable"):
        check_writable(tmp_path / "out", tmp_path / "missing" / "bag")


def test_a_full_disk_closes_the_bag_and_says_what_was_kept(tmp_path):
    """Before: a traceback, the partial bag deleted, no PNG/GIF/summary."""
    writer = FrameWriter(tmp_path / "out")
    (tmp_path / "out").mkdir()
    writer.write(frame(50), None)
    bag = BagFile(tmp_path / "rec", "mcap")
    bag.write(
        "/road_mask",
        "std_msgs/msg/String",
        1,
        bag.serialize(bag.typestore.types["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"),
    )
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "overlay_0001.png"))
    with pytest.raises(RoadSegError, match="No space left") as error:
        finish_recording(fake_recorder(), writer, bag, tmp_path / "out", False, full, 10, "road_overlay")
    assert "1 PNGs" in str(error.value) and "closed with 1 messages" in str(error.value)
    with Reader(tmp_path / "rec") as reader:  # the bag is complete and readable
        assert reader.message_count == 1


def test_a_second_ctrl_c_while_finishing_says_what_was_written(tmp_path, monkeypatch):
    """Before: 'nothing written' after 257 PNGs and the bag were."""
    writer = FrameWriter(tmp_path)
    writer.write(frame(50), None)

    def interrupted_gif():
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "finish", interrupted_gif)
    with pytest.raises(KeyboardInterrupt, match="1 PNGs") as error:
        finish_recording(fake_recorder(), writer, None, tmp_path, True, None, 10, "road_overlay")
    assert "nothing" not in str(error.value)


def test_the_timeout_gives_up_only_while_nothing_has_arrived():
    """Before: the deadline cut a live recording at --timeout (30 s) while frames kept arriving, exit 0, silent.
    A clock walked by hand: frames every 0.1 s for three timeouts keep it going; silence before any frame ends it at
    the deadline; silence after frames ends it after idle_exit; a count ends it at the count."""
    from ros_road_seg.tools.record_overlay import StopRule

    rule = StopRule(deadline=30.0, idle_exit=3.0)
    for step in range(1, 900):  # a live stream at 10 Hz, well past the deadline
        now = step * 0.1
        assert not rule.done(received=step, last_arrival=now, now=now), now
    assert not rule.done(received=0, last_arrival=0.0, now=29.9)
    assert rule.done(received=0, last_arrival=0.0, now=30.0)  # nothing ever arrived
    assert not rule.done(received=5, last_arrival=100.0, now=102.9)
    assert rule.done(received=5, last_arrival=100.0, now=103.1)  # idle after the stream stopped
    counted = StopRule(deadline=30.0, count=20)
    assert not counted.done(received=19, last_arrival=50.0, now=50.0)
    assert counted.done(received=20, last_arrival=50.0, now=50.0)
