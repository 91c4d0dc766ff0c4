"""A one-frame mailbox between the ROS callback and the inference thread: newest wins, replaced frames are counted."""

from __future__ import annotations

import threading
from typing import Any


class LatestFrameSlot:
    """Holds at most one pending item. ``put`` replaces an unprocessed item and counts it as dropped."""

    def __init__(self) -> None:
        self._item: Any = None
        self._has_item = False
        self._closed = False
        self._condition = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced a frame that was never processed (a drop)."""
        with self._condition:
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._condition.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """The pending item, waiting up to ``timeout`` s; None on timeout or once closed."""
        with self._condition:
            if not self._has_item and not self._closed:
                self._condition.wait(timeout)
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def reopen(self) -> None:
        """Serve again after :meth:`close` (the next activate); the drop count stays cumulative like every other
        counter of the node."""
        with self._condition:
            self._closed, self._item, self._has_item = False, None, False

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
