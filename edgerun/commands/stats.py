"""Counters of the command path, as the ops endpoint and ``edgerun status`` read them."""

from __future__ import annotations

from collections import Counter

import msgspec


class CommandStats(msgspec.Struct):
    """Running totals since start; :meth:`snapshot` gives a copy safe to hand out."""

    #: Messages received on the command topics (before any check).
    received: int = 0
    #: Commands handed to a driver.
    executed: int = 0
    #: Commands running right now.
    inflight: int = 0
    #: Messages dropped without a result because the pending queue was full (a flood).
    overflow: int = 0
    #: Results published / lost (uplink down, publish failed or timed out).
    results_published: int = 0
    results_lost: int = 0
    #: Results by outcome: ``ok`` or the refusal reason (``denied``, ``expired``, ...).
    by_result: Counter[str] = msgspec.field(default_factory=Counter)

    def snapshot(self) -> CommandStats:
        return CommandStats(
            received=self.received,
            executed=self.executed,
            inflight=self.inflight,
            overflow=self.overflow,
            results_published=self.results_published,
            results_lost=self.results_lost,
            by_result=Counter(self.by_result),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "executed": self.executed,
            "inflight": self.inflight,
            "overflow": self.overflow,
            "results_published": self.results_published,
            "results_lost": self.results_lost,
            "by_result": dict(self.by_result),
        }


__all__ = ["CommandStats"]
