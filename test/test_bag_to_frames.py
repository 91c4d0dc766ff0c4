"""bag_to_frames: the frames of a bag written by kitti_to_bag come back equal to the originals (sqlite3 and MCAP),
near-duplicates are skipped, rate and count limits hold, a wrong topic is one line naming the topics there are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ros_road_seg.core.errors import BagError
from ros_road_seg.tools.bag_to_frames import extract, main
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, convert


def frames_folder(folder: Path, count: int, still: int = 0) -> list[np.ndarray]:
    """``count`` distinct random frames, the last ``still`` of them repeating the one before (a stopped car)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    frames = []
    for number in range(count):
        rgb = frames[-1] if number >= count - still else rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
        frames.append(rgb)
        cv2.imwrite(str(folder / f"{number:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return frames


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_frames_come_back_equal_to_the_originals(tmp_path, storage):
    originals = frames_folder(tmp_path / "frames", 5)
    convert(tmp_path / "frames", tmp_path / "bag", storage=storage, progress=False)
    result = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "out", min_change=0, progress=False)
    assert result["written"] == 5 and result["bad"] == 0
    written = sorted((tmp_path / "out").glob("*.png"))
    assert [p.stem.count("_") for p in written] == [1] * 5  # <sec>_<nanosec>
    for original, path in zip(originals, written, strict=True):
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), original)


def test_near_duplicates_rate_and_count(tmp_path):
    frames_folder(tmp_path / "frames", 8, still=3)
    convert(tmp_path / "frames", tmp_path / "bag", progress=False)
    still = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "a", progress=False)
    assert (still["written"], still["near_duplicates"]) == (5, 3)
    every = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "b", every=2, min_change=0, progress=False)
    assert every["written"] == 4
    capped = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "c", max_frames=2, min_change=0, progress=False)
    assert capped["written"] == 2
    by_hz = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "d", hz=5.0, min_change=0, progress=False)
    assert by_hz["written"] == 4  # the bag is 10 Hz


def test_a_wrong_topic_names_the_image_topics(tmp_path, capsys):
    frames_folder(tmp_path / "frames", 2)
    convert(tmp_path / "frames", tmp_path / "bag", progress=False)
    with pytest.raises(BagError, match=DEFAULT_TOPIC):
        extract(tmp_path / "bag", "/nope", tmp_path / "out", progress=False)
    assert main([str(tmp_path / "bag"), "--topic", "/nope", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith("bag_to_frames: error:")


def test_the_progress_bar_counts_the_frame_it_has_just_kept(tmp_path, capsys):
    """Before: the bar was drawn before each message was handled, so its last line said '5/5 messages, 4 frames kept'
    beside a result of 5 frames."""
    frames_folder(tmp_path / "frames", 5)
    convert(tmp_path / "frames", tmp_path / "bag", progress=False)
    result = extract(tmp_path / "bag", DEFAULT_TOPIC, tmp_path / "out", min_change=0)
    last = capsys.readouterr().err.strip().splitlines()[-1]  # stderr is not a terminal here: one line per tenth
    assert last.endswith(f"5/5 messages, {result['written']} frames kept") and result["written"] == 5, last
