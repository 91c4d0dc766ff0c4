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


def exit_codes(main: Callable[..., int]) -> Callable[..., int]:
    """Decorate a tool's ``main``: a RoadSegError, missing file or bad value becomes one ``error: ...`` line and
    EXIT_ERROR, Ctrl-C becomes EXIT_INTERRUPTED; argparse's own exit (EXIT_USAGE) passes through."""

    @functools.wraps(main)
    def run(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except (RoadSegError, FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run
