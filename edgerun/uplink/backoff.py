"""Capped exponential backoff with full jitter for reconnects, and when it starts over.

After a broker restart every gateway of a fleet loses its connection at the same instant.
With plain exponential backoff they would all come back in lockstep and hit the broker
together again; *full jitter* (sleep a uniformly random time between 0 and the capped
exponential bound) spreads them over the whole interval.

The attempt counter starts over only after a connection *proved healthy*: the broker sent
CONNACK, acknowledged the gateway's first QoS 1 publish (the retained ``online`` status),
and the connection then stayed up for :data:`STABLE_AFTER` seconds. A gateway therefore
recovers quickly from a drop of a healthy connection (the next delay is at most
``base``), while a flapping broker (one that accepts CONNECT and drops the client soon
after, as RabbitMQ does when a session's home node is down) keeps the delays growing
instead of being hammered by the whole fleet every second. A CONNACK alone resets nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

#: Seconds a connection must stay up after its first PUBACK to count as healthy.
STABLE_AFTER = 5.0


class Backoff:
    """``next_delay()`` = uniform(0, min(cap, base * 2**attempt)); never gives up.

    The uplink reports each connection's life: :meth:`connected` after CONNACK,
    :meth:`proved` on its first PUBACK and :meth:`dropped` when it ends; ``dropped``
    resets the counter when the connection was healthy. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        base: float,
        cap: float,
        rng: random.Random | None = None,
        *,
        stable_after: float = STABLE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self.stable_after = stable_after
        self._rng = rng or random.Random()
        self._clock = clock
        self._proved_at: float | None = None

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

    def connected(self) -> None:
        """A connection got its CONNACK (not yet proof of health)."""
        self._proved_at = None

    def proved(self) -> None:
        """The connection's first QoS 1 publish was acknowledged."""
        if self._proved_at is None:
            self._proved_at = self._clock()

    def dropped(self) -> bool:
        """The connection ended; ``True`` (and the counter reset) when it was healthy."""
        proved_at, self._proved_at = self._proved_at, None
        healthy = proved_at is not None and self._clock() - proved_at >= self.stable_after
        if healthy:
            self.reset()
        return healthy


__all__ = ["STABLE_AFTER", "Backoff"]
