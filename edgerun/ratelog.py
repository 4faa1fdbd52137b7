"""Rate-limited logging for events that can repeat thousands of times a second.

A bad sensor emitting garbage or a full disk must be visible in the log without flooding an
SD card: each key logs at most once per :data:`INTERVAL_S`, and the next message says how
many were suppressed in between.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

INTERVAL_S: Final = 60.0


class RateLimitedLog:
    """``warning(key, msg, *args)`` logs once per key per interval."""

    def __init__(self, logger: logging.Logger, interval: float = INTERVAL_S) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        skipped = self._suppressed.pop(key, 0)
        if skipped:
            msg += " (%d similar messages suppressed)"
            args = (*args, skipped)
        self.logger.log(level, msg, *args)

    def warning(self, key: str, msg: str, *args: Any) -> None:
        self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args: Any) -> None:
        self.log(logging.ERROR, key, msg, *args)
