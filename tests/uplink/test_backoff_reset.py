"""When the reconnect backoff starts over: only after a connection proved healthy.

Driven through the Backoff object with an injected clock (no sleeps).
"""

from __future__ import annotations

import random

from edgerun.uplink.backoff import STABLE_AFTER, Backoff


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def grown(clock: Clock) -> Backoff:
    b = Backoff(1.0, 60.0, random.Random(1), clock=clock)
    for _ in range(5):
        b.next_delay()
    assert b.bound() == 32.0
    return b


def test_healthy_connection_resets_after_drop() -> None:
    clock = Clock()
    b = grown(clock)
    b.connected()
    clock.t += 0.1
    b.proved()  # the online status was acknowledged
    clock.t += STABLE_AFTER
    assert b.dropped() is True
    assert b.attempt == 0
    assert b.bound() == 1.0  # after a short outage the next attempt comes within 1 s


def test_connack_alone_does_not_reset() -> None:
    clock = Clock()
    b = grown(clock)
    b.connected()
    clock.t += 3600.0  # up for an hour, but no publish was ever acknowledged
    assert b.dropped() is False
    assert b.bound() == 32.0


def test_flapping_broker_keeps_growing() -> None:
    clock = Clock()
    b = Backoff(1.0, 60.0, random.Random(1), clock=clock)
    bounds = []
    for _ in range(7):
        b.connected()
        b.proved()  # it even acks the birth message ...
        clock.t += STABLE_AFTER / 2  # ... then drops the client
        assert b.dropped() is False
        bounds.append(b.bound())
        clock.t += b.next_delay()
    assert bounds == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]


def test_proof_counts_from_first_puback() -> None:
    clock = Clock()
    b = grown(clock)
    b.connected()
    clock.t += STABLE_AFTER  # the time before the first PUBACK does not count
    b.proved()
    clock.t += STABLE_AFTER - 0.01
    b.proved()  # later PUBACKs do not move the start
    assert b.dropped() is False
    b.connected()
    b.proved()
    clock.t += STABLE_AFTER
    assert b.dropped() is True
    assert b.attempt == 0


def test_a_new_connection_forgets_the_previous_proof() -> None:
    clock = Clock()
    b = grown(clock)
    b.connected()
    b.proved()
    clock.t += STABLE_AFTER * 2
    b.connected()  # reconnected without a drop being reported
    assert b.dropped() is False
