"""One progress bar for every long loop (bag conversion, frames out of a bag, soft labels, scoring, adaptation):
``[#####.....] 12/40 frames`` redrawn in place on stderr, so stdout stays the tool's result. Into a log file (stderr
not a terminal) it writes one line per tenth instead of a carriage-return stream a log viewer shows as one huge line."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def draw(done: int, total: int, what: str = "frames", width: int = 30, stream=None) -> None:
    """Redraw the bar at ``done`` of ``total`` in place; the caller ends the line (:func:`end`) when it is done."""
    stream = sys.stderr if stream is None else stream
    filled = min(width, int(width * done / total)) if total else width
    bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}"
    if _is_terminal(stream):
        print(f"\r{bar}", end="", file=stream, flush=True)
    elif done >= total or (10 * done) // max(total, 1) > (10 * (done - 1)) // max(total, 1):
        print(bar, file=stream, flush=True)  # a log: one line per tenth and the last


def end(stream=None) -> None:
    """End the bar's line (in a log every line is already ended)."""
    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream):
        print(file=stream, flush=True)


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


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
