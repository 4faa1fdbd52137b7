"""Debouncing: turning a bouncing line into clean changes. Sans-io: no clock, no threads.

A change is confirmed once the line has stayed at its new level for ``period`` — the same
rule the kernel's GPIO debounce applies — so a burst of bounces yields one change, a
glitch shorter than ``period`` yields none, and the confirmed level always equals the
line's real level. The confirmed change carries the time of the edge that started the
stable run (when the contact actually settled).
"""

from __future__ import annotations

import msgspec


class Change(msgspec.Struct, frozen=True, gc=False):
    """A confirmed change of a line's logical level."""

    level: bool
    ts_ns: int


class Debouncer:
    """One line's debounce state."""

    __slots__ = ("_pending", "level", "period_ns")

    def __init__(self, period_s: float, level: bool) -> None:
        self.period_ns = int(period_s * 1e9)
        #: The confirmed (debounced) level.
        self.level = level
        self._pending: Change | None = None

    def feed(self, level: bool, ts_ns: int) -> Change | None:
        """Take one raw edge.

        Returns a change when debouncing is off, or when the edge before this one had
        already been stable for ``period`` by the time this one came (edges may arrive in
        batches, so stability is judged on their timestamps, not on arrival).
        """
        if self.period_ns <= 0:
            if level == self.level:
                return None
            self.level = level
            return Change(level, ts_ns)
        confirmed = self.poll(ts_ns)
        self._pending = Change(level, ts_ns)
        return confirmed

    def deadline(self) -> int | None:
        """When the pending edge will be confirmed, in the edges' clock; ``None`` if idle."""
        return None if self._pending is None else self._pending.ts_ns + self.period_ns

    def poll(self, now_ns: int) -> Change | None:
        """Confirm the pending edge if it has been stable long enough."""
        pending = self._pending
        if pending is None or now_ns < pending.ts_ns + self.period_ns:
            return None
        self._pending = None
        if pending.level == self.level:
            return None  # bounced back: no change
        self.level = pending.level
        return pending


__all__ = ["Change", "Debouncer"]
