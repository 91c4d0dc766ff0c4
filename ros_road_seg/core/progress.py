"""One progress bar for every long loop (bag conversion, frames out of a bag, soft labels, scoring, adaptation):
``[#####.....] 12/40 frames`` redrawn in place on stderr, so stdout stays the tool's result."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def draw(done: int, total: int, what: str = "frames", width: int = 30, stream=None) -> None:
    """Redraw the bar at ``done`` of ``total`` in place; the caller ends the line (:func:`end`) when it is done."""
    stream = sys.stderr if stream is None else stream
    filled = min(width, int(width * done / total)) if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}", end="", file=stream, flush=True)


def end(stream=None) -> None:
    """End the bar's line."""
    print(file=sys.stderr if stream is None else stream, flush=True)


def with_progress(items: Iterable[T], total: int, what: str = "frames", enabled: bool = True) -> Iterator[T]:
    """``items`` unchanged, the bar advanced after each one (nothing drawn when ``enabled`` is false)."""
    done = 0
    for item in items:
        yield item
        done += 1
        if enabled:
            draw(done, total, what)
    if enabled and done:
        end()
