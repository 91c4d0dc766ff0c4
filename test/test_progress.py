"""The one progress bar: drawn in place on stderr, finished with a newline, silent when disabled."""

from __future__ import annotations

import io

from ros_road_seg.core.progress import draw, end, with_progress


def test_the_bar_fills_in_proportion_in_place_and_its_caller_ends_the_line():
    stream = io.StringIO()
    draw(1, 4, "frames", width=8, stream=stream)
    draw(4, 4, "frames", width=8, stream=stream)
    end(stream)
    assert stream.getvalue() == "\r[##......] 1/4 frames\r[########] 4/4 frames\n"


def test_with_progress_yields_every_item_and_draws_only_when_enabled(capsys):
    assert list(with_progress(iter("abc"), 3, "letters")) == ["a", "b", "c"]
    assert capsys.readouterr().err.endswith("3/3 letters\n")
    assert list(with_progress(range(2), 2, enabled=False)) == [0, 1]
    assert capsys.readouterr().err == ""
