"""The part of the queue both backends share: chunking, leases, live-first, bounds, drops.

Rows are appended to an *open* list and sealed into a :class:`Chunk` (one ``packb`` call)
when ``chunk_readings`` are reached, when a lease has waited ``flush_after`` for them, or
when a durable backend commits. Sealed chunks sit in ``_ready`` in id order; a lease takes
whole chunks out of it into ``_leased``; ack forgets them, nack puts them back in order.

Storage is a subclass's business: it learns about each sealed and each removed chunk
(:meth:`_sealed`, :meth:`_removed`), may refuse to lease chunks it cannot read right now
(:meth:`_usable`), loads blobs it keeps only on disk (:meth:`_fill`) and sets the byte
capacity (``_cap``) its files allow. Everything here runs on the event loop thread.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from itertools import count
from typing import Final

import msgpack

from edgerun.queue.base import Batch, Chunk, QueueStats, ReadingQueue, encode_rows
from edgerun.queue.config import QueueConfig
from edgerun.queue.droplog import DropLog
from edgerun.queue.ids import IdAllocator
from edgerun.queue.notify import Notify
from edgerun.readings import Row

log = logging.getLogger("edgerun.queue")

#: Largest chunk a commit tick grows by merging (about half a 4 KiB page: rewriting it
#: costs no more page writes than writing the new readings alone).
MERGE_BYTES: Final = 2048

#: Chunk storage states (``Chunk.state``).
MEM: Final = 0
WRITING: Final = 1
DISK: Final = 2


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _accepted_key(c: Chunk) -> int:
    return c.accepted_ms


def _id_key(c: Chunk) -> int:
    return c.first_id


class ChunkQueue(ReadingQueue):
    """Shared queue logic; :class:`~edgerun.queue.memory.MemoryQueue` adds nothing to it."""

    def __init__(self, config: QueueConfig, ids: IdAllocator) -> None:
        self.config = config
        self.ids = ids
        self._chunk_size = max(1, config.chunk_readings)
        self._open: list[list[object]] = []
        self._open_next = 0  # id the next open row must have to stay consecutive
        self._open_since = 0.0  # monotonic time the oldest open row was accepted
        self._open_ms = 0
        self._ready: deque[Chunk] = deque()
        self._leased: dict[int, Batch] = {}
        self._lease_ids = count(1)
        self._bytes = 0  # encoded bytes of ready + leased chunks
        self._readings = 0  # readings in ready + leased chunks
        self._leased_readings = 0
        self._cap = int(config.max_bytes)  # encoded bytes the storage can hold
        self._all_usable = True  # False while some chunks cannot be leased (degraded)
        self._stats = QueueStats()
        self._drops = DropLog(self._stats.dropped, log)
        self._data = Notify()

    # ------------------------------------------------------------- storage hooks
    def _sealed(self, chunk: Chunk) -> None:
        """A chunk was sealed and appended to ``_ready``."""

    def _removed(self, chunk: Chunk) -> None:
        """A chunk left the queue for good (acknowledged or dropped)."""

    def _memory_full(self) -> bool:
        """True when readings held only in memory reached their bound."""
        return False

    def _relieve_memory(self) -> None:
        """Drop the oldest memory-only chunks (policy ``drop_oldest``)."""

    def _writable(self) -> bool:
        """The value :meth:`offer` returns after sealing a chunk."""
        return False

    def _usable(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` can be leased now (only asked while ``_all_usable`` is False)."""
        return True

    async def _fill(self, batch: Batch) -> Batch | None:
        """Make every blob of ``batch`` present; ``None`` when nothing of it is left."""
        return batch

    # ---------------------------------------------------------------------- input
    def offer(self, row: Row) -> bool:
        if (self._bytes >= self._cap or self._memory_full()) and not self._make_room():
            return True
        nid = self.ids.take()
        rows = self._open
        if rows and nid != self._open_next:
            self._seal()  # an id jump (clock fallback): chunks hold consecutive ids
            rows = self._open
        if not rows:
            self._open_since = time.monotonic()
            self._open_ms = now_ms()
            self._data.set()  # a waiting lease starts its flush_after timer
        rows.append([nid, *row])
        self._open_next = nid + 1
        self._stats.accepted += 1
        if len(rows) >= self._chunk_size:
            self._seal()
            return self._writable()
        return True

    def count_drop(self, reason: str, n: int = 1) -> None:
        self._drops.drop(reason, n)

    def _make_room(self) -> bool:
        """Apply the overflow policy; ``True`` when the new reading may be stored."""
        if self.config.overflow == "reject_new":
            self._drops.drop("rejected", 1, "queue full (policy reject_new)")
            return False
        ready = self._ready
        while self._bytes >= self._cap and ready:
            self._drop_chunk(ready.popleft(), "overflow")
        if self._memory_full():
            self._relieve_memory()
        if self._bytes >= self._cap or self._memory_full():
            # Everything left is leased or still open: the new reading has to go.
            self._drops.drop("overflow", 1, "queue full and nothing unleased to drop")
            return False
        return True

    def _drop_chunk(self, chunk: Chunk, reason: str) -> None:
        self._bytes -= chunk.nbytes
        self._readings -= chunk.count
        self._drops.drop(reason, chunk.count)
        self._removed(chunk)

    def _seal(self, merge: bool = False) -> None:
        """Seal the open rows; with ``merge``, into the newest chunk when it is small."""
        rows = self._open
        if not rows:
            return
        self._open = []
        try:
            chunks = [self._make_chunk(rows, encode_rows(rows))]
        except (TypeError, ValueError, OverflowError):
            chunks = self._seal_salvage(rows)
        if merge and len(chunks) == 1 and self._merge_into_tail(chunks[0]):
            self._data.set()
            return
        for chunk in chunks:
            self._ready.append(chunk)
            self._bytes += chunk.nbytes
            self._readings += chunk.count
            self._sealed(chunk)
        self._data.set()

    def _merge_into_tail(self, chunk: Chunk) -> bool:
        """Append ``chunk`` to the newest unleased chunk if that stays small and live.

        A slow gateway commits a few readings per interval; without merging, each would be
        a chunk of its own and a week offline would cost an index entry per reading.
        """
        ready = self._ready
        if not ready:
            return False
        tail = ready[-1]
        live_ms = int(self.config.live_window * 500)  # half the window keeps "live" honest
        if (
            tail.last_id + 1 != chunk.first_id
            or not tail.blob
            or tail.nbytes + chunk.nbytes > MERGE_BYTES
            or tail.count + chunk.count > self._chunk_size
            or chunk.accepted_ms - tail.accepted_ms > live_ms
            or not self._mergeable(tail)
        ):
            return False
        merged = Chunk(
            tail.first_id,
            tail.count + chunk.count,
            tail.blob + chunk.blob,
            tail.accepted_ms,
            min(tail.oldest_ts_ms, chunk.oldest_ts_ms),
        )
        ready[-1] = merged
        self._bytes += chunk.nbytes
        self._readings += chunk.count
        self._replaced(tail, merged)
        return True

    def _mergeable(self, chunk: Chunk) -> bool:
        """Whether storage lets ``chunk`` be replaced by a longer one now."""
        return True

    def _replaced(self, old: Chunk, new: Chunk) -> None:
        """``new`` (same first id, more readings) took the place of ``old`` in ``_ready``."""

    def _make_chunk(self, rows: list[list[object]], blob: bytes) -> Chunk:
        oldest = min(r[1] for r in rows)  # type: ignore[type-var]
        return Chunk(rows[0][0], len(rows), blob, self._open_ms, oldest)  # type: ignore[arg-type]

    def _seal_salvage(self, rows: list[list[object]]) -> list[Chunk]:
        """Encode row by row, drop (and count) what msgpack refuses, keep runs of the rest."""
        chunks: list[Chunk] = []
        run: list[list[object]] = []
        blobs: list[bytes] = []
        bad = 0

        def close_run() -> None:
            if run:
                chunks.append(self._make_chunk(list(run), b"".join(blobs)))
                run.clear()
                blobs.clear()

        for r in rows:
            try:
                blob: bytes = msgpack.packb(r, use_bin_type=True)
            except (TypeError, ValueError, OverflowError):
                bad += 1
                close_run()
                continue
            run.append(r)
            blobs.append(blob)
        close_run()
        self._drops.drop("invalid", bad, "value msgpack cannot encode")
        return chunks

    def _expire(self) -> None:
        ready = self._ready
        if not ready:
            return
        limit = now_ms() - int(self.config.max_age * 1000)
        while ready and ready[0].accepted_ms < limit:
            self._drop_chunk(ready.popleft(), "expired")

    # --------------------------------------------------------------------- output
    def _take(self, max_readings: int, max_bytes: int) -> Batch | None:
        ready = self._ready
        if not ready:
            return None
        live_from = now_ms() - int(self.config.live_window * 1000)
        # accepted_ms grows with the id (barring wall-clock jumps): live chunks are a suffix.
        start = bisect.bisect_left(ready, live_from, key=_accepted_key)
        hist = start >= len(ready)
        if hist:
            start = 0
        if not self._all_usable:
            return self._take_usable(start, hist, max_readings, max_bytes)
        chunks: list[Chunk] = []
        n = size = 0
        i = start
        end = len(ready)
        while i < end:
            c = ready[i]
            if chunks and (n + c.count > max_readings or size + c.nbytes > max_bytes):
                break
            chunks.append(c)
            n += c.count
            size += c.nbytes
            i += 1
        if start == 0:
            for _ in chunks:
                ready.popleft()
        else:
            for _ in chunks:
                del ready[start]
        return self._lend(chunks, hist)

    def _take_usable(
        self, start: int, hist: bool, max_readings: int, max_bytes: int
    ) -> Batch | None:
        """Degraded selection: skip chunks that cannot be read now."""
        ready = list(self._ready)
        order = [range(start, len(ready))]
        if not hist:
            order.append(range(0, start))
        for part_no, part in enumerate(order):
            chunks: list[Chunk] = []
            n = size = 0
            for i in part:
                c = ready[i]
                if not self._usable(c):
                    continue
                if chunks and (n + c.count > max_readings or size + c.nbytes > max_bytes):
                    break
                chunks.append(c)
                n += c.count
                size += c.nbytes
            if chunks:
                taken = {id(c) for c in chunks}
                self._ready = deque(c for c in ready if id(c) not in taken)
                return self._lend(chunks, hist or part_no == 1)
        return None

    def _lend(self, chunks: list[Chunk], hist: bool) -> Batch:
        batch = Batch(next(self._lease_ids), chunks, hist)
        self._leased[batch.lease_id] = batch
        self._leased_readings += batch.count
        return batch

    async def lease(self, max_readings: int, max_bytes: int, flush_after: float) -> Batch:
        while True:
            if self._open and time.monotonic() - self._open_since >= flush_after:
                self._seal()
            self._expire()
            batch = self._take(max(1, max_readings), max(1, max_bytes))
            if batch is not None:
                filled = await self._fill(batch)
                if filled is not None:
                    return filled
                continue
            timeout = None
            if self._open:
                timeout = max(0.0, self._open_since + flush_after - time.monotonic())
            await self._data.wait(timeout)

    def _forget_lease(self, batch: Batch) -> bool:
        if self._leased.pop(batch.lease_id, None) is None:
            return False
        self._leased_readings -= batch.count
        return True

    def ack(self, batch: Batch) -> None:
        if not self._forget_lease(batch):
            return
        for c in batch.chunks:
            self._bytes -= c.nbytes
            self._readings -= c.count
            self._removed(c)
        self._stats.acked += batch.count

    def nack(self, batch: Batch) -> None:
        if not self._forget_lease(batch):
            return
        self._return(batch.chunks)

    def _return(self, chunks: list[Chunk]) -> None:
        """Put leased chunks back in id order."""
        ready = self._ready
        for chunk in chunks:
            if not ready or ready[-1].first_id < chunk.first_id:
                ready.append(chunk)
            else:
                ready.insert(bisect.bisect_left(ready, chunk.first_id, key=_id_key), chunk)
        self._data.set()

    # ---------------------------------------------------------------------- stats
    def stats(self) -> QueueStats:
        st = self._stats
        st.depth_readings = self._readings + len(self._open)
        st.leased_readings = self._leased_readings
        st.depth_bytes = self._bytes
        oldest = self._open_ms if self._open else 0
        if self._ready:
            oldest = self._ready[0].accepted_ms
        for b in self._leased.values():
            first = b.chunks[0].accepted_ms
            if not oldest or first < oldest:
                oldest = first
        st.oldest_age_s = max(0.0, (now_ms() - oldest) / 1000) if oldest else 0.0
        st.next_id = self.ids.next_id
        return st


__all__ = ["DISK", "MEM", "WRITING", "ChunkQueue", "now_ms"]
