"""Bad frames and internal faults: counted, logged at most once per kind and period (no log flood), and their
messages bounded in length (an attacker's 200 kB encoding string is not repeated in every /diagnostics)."""

from __future__ import annotations

import re
import time
import traceback

ERROR_LOG_PERIOD_S = 5.0
MAX_REASON_CHARS = 300


def bounded(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


class FaultLog:
    """What went wrong while serving, for the log and /diagnostics."""

    def __init__(self, logger) -> None:
        self.logger = logger
        self.bad_frames = 0
        self.internal_faults = 0
        self.last_error = ""
        self.last_fault = ""
        self._last_log: dict[str, float] = {}

    def bad_frame(self, reason: str, topic: str) -> None:
        """Count every bad frame; log each kind of problem at most once per ERROR_LOG_PERIOD_S."""
        self.bad_frames += 1
        self.last_error = bounded(reason)
        self.once(
            "error",
            re.sub(r"\d+", "N", reason)[:80],
            f"dropped a frame on '{topic}': {self.last_error} ({self.bad_frames} bad frames so far)",
        )

    def internal_fault(self, error: Exception) -> None:
        self.internal_faults += 1
        where = traceback.extract_tb(error.__traceback__)[-1]
        self.last_fault = bounded(
            f"{type(error).__name__}: {error} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        )
        self.once(
            "error",
            f"fault {type(error).__name__} {where.filename}:{where.lineno}",
            "internal fault while serving a frame (a bug, not bad input; the node keeps running): "
            + bounded("".join(traceback.format_exception(error)).rstrip(), 4000),
        )

    def once(self, level: str, kind: str, text: str) -> None:
        """Log ``text`` unless the same ``kind`` was logged less than ERROR_LOG_PERIOD_S ago."""
        now = time.monotonic()
        if now - self._last_log.get(kind, -ERROR_LOG_PERIOD_S) >= ERROR_LOG_PERIOD_S:
            if len(self._last_log) > 64:
                self._last_log.clear()
            self._last_log[kind] = now
            getattr(self.logger, level)(text)
