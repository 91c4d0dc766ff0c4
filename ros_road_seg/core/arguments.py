"""argparse types that refuse NaN, infinity and out-of-range numbers with one line (exit code 2), for every CLI."""

from __future__ import annotations

import argparse
import math


def bounded_number(
    minimum: float | None = None, maximum: float | None = None, integer: bool = False, above: bool = False
):
    """An argparse ``type``: a finite number within [minimum, maximum] (``above``: strictly greater than minimum)."""

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if integer else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if minimum is not None and (value <= minimum if above else value < minimum):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if above else '>='} {minimum:g}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text} must be <= {maximum:g}")
        return value

    return parse
