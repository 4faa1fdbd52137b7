"""Drop accounting: every dropped reading counted by reason, logged with rate limiting.

A gateway that overflows for a day would otherwise write one log line per dropped chunk,
which on an SD card is its own wear problem. Each reason logs at most once per
:data:`LOG_EVERY` seconds, with the count dropped since its previous line.
"""

from __future__ import annotations

import logging
import time
from typing import Final

#: Seconds between two log lines of the same drop reason.
LOG_EVERY: Final = 10.0


class DropLog:
    """Counts drops into ``counts`` (shared with the stats) and logs them sparingly."""

    def __init__(self, counts: dict[str, int], log: logging.Logger) -> None:
        self.counts = counts
        self._log = log
        self._unlogged: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def drop(self, reason: str, n: int, why: str = "") -> None:
        if n <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + n
        pending = self._unlogged.get(reason, 0) + n
        now = time.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < LOG_EVERY:
            self._unlogged[reason] = pending
            return
        self._unlogged[reason] = 0
        self._last[reason] = now
        self._log.warning(
            "dropped %d reading(s) (%s)%s; %d dropped for this reason so far",
            pending,
            reason,
            f": {why}" if why else "",
            self.counts[reason],
        )


__all__ = ["LOG_EVERY", "DropLog"]
