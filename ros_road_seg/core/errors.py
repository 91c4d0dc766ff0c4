"""The project's own error types: every expected failure is one of these, with a message naming what is wrong."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class RoadSegError(Exception):
    """Base class: an input, model or setting the package cannot use; the message names it."""


class ImageConversionError(RoadSegError):
    """A sensor_msgs Image/CompressedImage that cannot be turned into an RGB array (the message names the field)."""


class ModelLoadError(RoadSegError):
    """A model file that is missing, unreadable, not ONNX, or of the wrong input shape."""


class ProviderUnavailableError(RoadSegError):
    """An execution provider that was asked for explicitly but cannot run here."""


class DatasetError(RoadSegError):
    """A dataset folder or file that cannot be used for training or evaluation (the message names the file)."""


class BagError(RoadSegError):
    """A bag or frame folder that cannot be converted or replayed (the message names the file or topic)."""


# One exit-code convention for every command-line tool (README: "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # a clear error: the message names the file, topic, field or setting
EXIT_USAGE = 2  # bad arguments (argparse's own code)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT; what was finished is kept


class UsageError(RoadSegError):
    """Arguments that parse but make no sense together (exit code 2, as argparse's own)."""


class TrainingDivergedError(RoadSegError):
    """The loss became NaN or infinite; no checkpoint of that epoch was written."""


def exit_codes(tool: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a tool's ``main``: every expected failure becomes one ``<tool>: error: ...`` line and EXIT_ERROR
    (a RoadSegError, a bad value, or an OSError such as a missing, unwritable or full output path, whose text names
    the file), a UsageError EXIT_USAGE, Ctrl-C ``<tool>: interrupted[: what was kept]`` and EXIT_INTERRUPTED;
    argparse's own exit (EXIT_USAGE) passes through. Libraries raise; only this wrapper turns errors into codes."""

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except UsageError as error:
                print(f"{tool}: error: {error}", file=sys.stderr)
                return EXIT_USAGE
            except (RoadSegError, ValueError, OSError) as error:
                print(f"{tool}: error: {one_line(error)}", file=sys.stderr)
                return EXIT_ERROR
            except KeyboardInterrupt as interrupt:
                kept = f": {interrupt}" if str(interrupt) else ""
                print(f"\n{tool}: interrupted{kept}", file=sys.stderr)
                return EXIT_INTERRUPTED

        return run

    return decorate


def one_line(error: BaseException) -> str:
    """An exception as one line: its first line, or its type when it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
