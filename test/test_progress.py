"""The one progress bar: drawn in place on stderr, finished with a newline, silent when disabled."""

from __future__ import annotations

import io

from ros_road_seg.core.progress import draw, end, with_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_fills_in_proportion_in_place_and_its_caller_ends_the_line():
    stream = Terminal()
    draw(1, 4, "frames", width=8, stream=stream)
    draw(4, 4, "frames", width=8, stream=stream)
    end(stream)
    assert stream.getvalue() == "\r[##......] 1/4 frames\r[########] 4/4 frames\n"


def test_into_a_log_the_bar_writes_one_line_per_tenth_and_the_last():
    stream = io.StringIO()  # not a terminal
    for done in range(1, 41):
        draw(done, 40, "frames", width=4, stream=stream)
    end(stream)
    lines = stream.getvalue().split("\n")
    assert "\r" not in stream.getvalue() and lines[-1] == ""
    assert [line.split()[1] for line in lines[:-1]] == [f"{n}/40" for n in range(4, 41, 4)]


def test_with_progress_yields_every_item_and_draws_only_when_enabled(capsys):
    assert list(with_progress(iter("abc"), 3, "letters")) == ["a", "b", "c"]
    assert capsys.readouterr().err.endswith("3/3 letters\n")
    assert list(with_progress(range(2), 2, enabled=False)) == [0, 1]
    assert capsys.readouterr().err == ""
