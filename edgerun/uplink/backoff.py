"""Capped exponential backoff with full jitter for reconnects.

After a broker restart every gateway of a fleet loses its connection at the same instant.
With plain exponential backoff they would all come back in lockstep and hit the broker
together again; *full jitter* (sleep a uniformly random time between 0 and the capped
exponential bound) spreads them over the whole interval. The attempt counter resets once a
connection has been established, so a gateway recovers quickly from a single drop.
"""

from __future__ import annotations

import random


class Backoff:
    """``next_delay()`` = uniform(0, min(cap, base * 2**attempt)); never gives up."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def bound(self) -> float:
        """The upper bound of the next delay."""
        # 2**attempt stops growing once it passes the cap (no float overflow after days).
        exp = min(self.attempt, 62)
        return min(self.cap, self.base * (1 << exp))

    def next_delay(self) -> float:
        delay = self._rng.uniform(0.0, self.bound())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


__all__ = ["Backoff"]
