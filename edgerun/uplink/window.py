"""The in-flight window: how many batches may await their PUBACK at once.

The window is bounded here rather than in paho/aiomqtt because their own limit costs O(W)
per publish and ack and halves throughput at large windows (docs/uplink.md). Backlog
batches may use only ``backlog`` of the ``size`` slots, so a draining backlog never
occupies the whole window and live readings always find room.
"""

from __future__ import annotations

import anyio


class Window:
    """Counts in-flight batches; ``wait_room`` blocks until a slot of the right kind is free."""

    def __init__(self, size: int, backlog: int) -> None:
        self.size = size
        self.backlog = min(backlog, size)
        self.inflight = 0
        self.inflight_hist = 0
        self._changed = anyio.Event()

    def has_room(self, hist: bool) -> bool:
        if self.inflight >= self.size:
            return False
        return not (hist and self.inflight_hist >= self.backlog)

    async def wait_room(self, hist: bool) -> None:
        while not self.has_room(hist):
            await self._changed.wait()

    def add(self, hist: bool) -> None:
        self.inflight += 1
        if hist:
            self.inflight_hist += 1

    def done(self, hist: bool) -> None:
        self.inflight -= 1
        if hist:
            self.inflight_hist -= 1
        self._changed.set()
        self._changed = anyio.Event()

    def reset(self) -> None:
        self.inflight = self.inflight_hist = 0
        self._changed.set()
        self._changed = anyio.Event()


__all__ = ["Window"]
