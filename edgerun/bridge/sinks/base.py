"""The sink interface every datacenter sink implements (built-in or from a plugin).

A sink class has a config model (:attr:`Sink.config_type`, a strict msgspec struct built
from the ``[[sinks]]`` table minus ``type`` and ``name``) and four coroutines. The bridge
calls :meth:`Sink.write` with a group of decoded batches and acknowledges the MQTT messages
only after *every* sink returned, so a sink must return only once the database has the
points (or as close to that as its protocol can tell) and raise otherwise:

* :class:`SinkUnavailable` — the database cannot be reached or answered 5xx/429: the bridge
  retries the same group with backoff, the messages wait unacknowledged in the broker;
* :class:`SinkRejected` — the database refused the data itself (4xx): the bridge retries
  each batch on its own and sets aside the ones still refused as dead letters.

Writes must be idempotent: the same batch may be written again after a retry, a bridge
restart or a broker redelivery, and must then overwrite the same points (same series, same
timestamp), never add new ones. docs/bridge.md walks through writing a sink.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from edgerun.bridge.batch import Batch
from edgerun.config.base import Strict


class SinkConfig(Strict):
    """Base of a sink's config model."""


class SinkError(Exception):
    """A write did not happen; subclasses say whether retrying can help."""


class SinkUnavailable(SinkError):
    """Transient: connection refused/reset, timeout, 5xx, 429. Retried."""


class SinkRejected(SinkError):
    """Permanent for this data: the database refused it. Not retried as is."""


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway's state as the status series records it."""

    gateway: str
    up: bool
    #: When the state last changed (from the status message), ms since the epoch.
    changed_ms: int
    #: The time this point is written for, ms since the epoch.
    ts_ms: int


class Sink(abc.ABC):
    """Base class of every sink."""

    config_type: ClassVar[type[SinkConfig]] = SinkConfig

    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare (connect lazily is fine: :meth:`write` must cope with a database down)."""

    @abc.abstractmethod
    async def write(self, batches: Sequence[Batch]) -> int:
        """Write every row of ``batches``; return how many points were written."""

    @abc.abstractmethod
    async def write_status(self, states: Sequence[GatewayStatus]) -> None:
        """Write one point of the gateway status series per entry."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def stats(self) -> dict[str, int | float]:
        """Sink-specific counters (flat), merged into the bridge's stats with a prefix."""
        return {}


__all__ = [
    "GatewayStatus",
    "Sink",
    "SinkConfig",
    "SinkError",
    "SinkRejected",
    "SinkUnavailable",
]
