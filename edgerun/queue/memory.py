"""The memory-only queue: the same contract as the SQLite queue, nothing on disk.

For tests, benchmarks and diskless gateways. Bounded by ``max_bytes`` (encoded size) and
``max_age`` like the durable queue; readings are lost when the process ends.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from itertools import count

import anyio

from edgerun.queue.base import Batch, Chunk, QueueStats, ReadingQueue, encode_rows
from edgerun.queue.config import QueueConfig
from edgerun.queue.ids import IdAllocator
from edgerun.queue.notify import Notify
from edgerun.readings import Row

log = logging.getLogger("edgerun.queue")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryQueue(ReadingQueue):
    """Chunks in a deque; leases in a dict."""

    def __init__(self, config: QueueConfig, ids: IdAllocator | None = None) -> None:
        self.config = config
        self.ids = ids or IdAllocator(None)
        self._chunk_size = max(1, config.chunk_readings)
        self._open: list[list[object]] = []
        self._open_since = 0.0  # monotonic time the oldest open row was accepted
        self._open_ms = 0
        self._ready: deque[Chunk] = deque()
        self._leased: dict[int, Batch] = {}
        self._lease_ids = count(1)
        self._bytes = 0
        self._stats = QueueStats()
        self._data: Notify | None = None

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        self._data = Notify()

    async def aclose(self) -> None:
        self._seal()

    # ---------------------------------------------------------------------- input
    def offer(self, row: Row) -> bool:
        st = self._stats
        if self._bytes >= self.config.max_bytes and not self._make_room():
            st.dropped["rejected"] += 1
            return True
        if not self._open:
            self._open_since = time.monotonic()
            self._open_ms = now_ms()
        self._open.append([self.ids.take(), *row])
        st.accepted += 1
        if len(self._open) >= self._chunk_size:
            self._seal()
            return False
        return True

    async def wait_writable(self) -> None:
        # Memory never waits for a disk; yield so the uplink gets the loop.
        await anyio.lowlevel.checkpoint()

    def count_drop(self, reason: str, n: int = 1) -> None:
        self._stats.dropped[reason] = self._stats.dropped.get(reason, 0) + n

    def _seal(self) -> None:
        rows = self._open
        if not rows:
            return
        self._open = []
        blob = encode_rows(rows)
        oldest = min(r[1] for r in rows)  # type: ignore[type-var]
        chunk = Chunk(rows[0][0], len(rows), blob, self._open_ms, int(oldest))  # type: ignore[arg-type]
        self._ready.append(chunk)
        self._bytes += chunk.nbytes
        if self._data is not None:
            self._data.set()

    def _make_room(self) -> bool:
        """Apply the overflow policy; ``True`` when the new reading may be stored."""
        if self.config.overflow == "reject_new":
            return False
        while self._bytes >= self.config.max_bytes and self._ready:
            victim = self._ready.popleft()
            self._bytes -= victim.nbytes
            self._stats.dropped["overflow"] += victim.count
        return True

    def _expire(self) -> None:
        limit = now_ms() - int(self.config.max_age * 1000)
        while self._ready and self._ready[0].accepted_ms < limit:
            victim = self._ready.popleft()
            self._bytes -= victim.nbytes
            self._stats.dropped["expired"] += victim.count

    # --------------------------------------------------------------------- output
    def _take(self, max_readings: int, max_bytes: int) -> Batch | None:
        self._expire()
        ready = self._ready
        if not ready:
            return None
        live_from = now_ms() - int(self.config.live_window * 1000)
        # Live chunks form a suffix of the id-ordered deque. Take them first.
        start = len(ready)
        while start > 0 and ready[start - 1].accepted_ms >= live_from:
            start -= 1
        hist = start == len(ready)
        if hist:
            start = 0
        chunks: list[Chunk] = []
        n = size = 0
        i = start
        while i < len(ready):
            c = ready[i]
            if chunks and (n + c.count > max_readings or size + c.nbytes > max_bytes):
                break
            chunks.append(c)
            n += c.count
            size += c.nbytes
            i += 1
        for _ in chunks:
            del ready[start]
        batch = Batch(next(self._lease_ids), chunks, hist)
        self._leased[batch.lease_id] = batch
        return batch

    async def lease(self, max_readings: int, max_bytes: int, flush_after: float) -> Batch:
        assert self._data is not None, "open() the queue first"
        while True:
            if not self._ready and self._open:
                wait = self._open_since + flush_after - time.monotonic()
                if wait <= 0:
                    self._seal()
            batch = self._take(max_readings, max_bytes)
            if batch is not None:
                return batch
            timeout = None
            if self._open:
                timeout = max(0.0, self._open_since + flush_after - time.monotonic())
            await self._data.wait(timeout)

    def ack(self, batch: Batch) -> None:
        if self._leased.pop(batch.lease_id, None) is None:
            return
        self._bytes -= batch.nbytes
        self._stats.acked += batch.count

    def nack(self, batch: Batch) -> None:
        if self._leased.pop(batch.lease_id, None) is None:
            return
        keys = [c.first_id for c in self._ready]
        for chunk in reversed(batch.chunks):
            pos = bisect.bisect_left(keys, chunk.first_id)
            self._ready.insert(pos, chunk)
            keys.insert(pos, chunk.first_id)
        if self._data is not None:
            self._data.set()

    def stats(self) -> QueueStats:
        st = self._stats
        st.depth_readings = sum(c.count for c in self._ready) + len(self._open)
        st.leased_readings = sum(b.count for b in self._leased.values())
        st.depth_bytes = self._bytes
        oldest = self._ready[0].accepted_ms if self._ready else (self._open_ms or 0)
        st.oldest_age_s = max(0.0, (now_ms() - oldest) / 1000) if oldest else 0.0
        st.next_id = self.ids.next_id
        return st
