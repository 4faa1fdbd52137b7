"""The durable queue: :class:`ChunkQueue` plus group commit to SQLite in a worker thread.

Write path. Sealed chunks wait in memory (state ``MEM``). Every ``commit_interval`` (or as
soon as ``commit_bytes`` are waiting) the commit task seals the open rows and hands the
waiting chunks plus the ids of chunks acknowledged or dropped since the last commit to the
worker thread, which writes them in one ``synchronous=FULL`` transaction. Only that thread
touches the SQLite connection.

Memory first. Leasing does not wait for a commit (the uplink sees a reading within
milliseconds). A chunk acknowledged before its commit is never written: the broker already
has it, so writing and deleting it would only wear the card. While the link keeps up,
almost nothing reaches the disk; when it stops, everything does within one interval.

What can be lost: a process crash loses nothing committed; readings accepted since the last
completed commit (at most ``commit_interval`` plus the time of one commit) are lost with the
process. A power cut loses the same and nothing more, because each commit is fsynced. With
``commit_interval = 0`` every reading is committed before ``wait_writable`` returns.

Faults. A commit that fails because of the disk (full, read-only, I/O error) rolls back;
the chunks stay in memory, the queue reports ``degraded`` and keeps accepting up to
``memory_max_bytes`` (then the overflow policy applies), and retries with a backoff capped
at ``retry_interval``. The first commit that succeeds writes the memory backlog and clears
``degraded``. Committed blobs are dropped from memory beyond ``cache_bytes`` and read back
when leased, so a 1 M reading backlog costs an index entry per chunk, not the readings.

Byte bound. ``max_bytes`` covers the database, the WAL and the shared-memory index. An
eighth of it (at most 32 MiB) is reserved for the WAL; the rest, less 5 %, for data pages.
The bytes of encoded readings allowed (``_cap``) are that budget divided by the measured
ratio of data pages to encoded bytes, updated after every commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio

from edgerun.queue.base import Batch, Chunk, QueueStats
from edgerun.queue.config import QueueConfig
from edgerun.queue.core import DISK, MEM, WRITING, ChunkQueue
from edgerun.queue.ids import IdAllocator, clock_floor
from edgerun.queue.notify import Notify
from edgerun.queue.quarantine import quarantine
from edgerun.queue.store import CommitInfo, DamagedError, Opened, StorageError, Store

log = logging.getLogger("edgerun.queue")

T = TypeVar("T")

#: Chunk state of a chunk that left the queue while its commit was running.
GONE: Final = -1
HWM_NAME: Final = "ids.hwm"
#: Room kept for the ``-shm`` index file (32 KiB for any WAL up to ~4000 pages, twice that).
SHM_RESERVE: Final = 64 * 1024
#: Data pages per encoded byte assumed until the first commit measures it.
INITIAL_RATIO: Final = 1.3
#: ``wait_writable`` gives up after this long so a stalled disk cannot stall the drivers
#: forever; the memory bound (``memory_max_bytes``) still holds.
WRITABLE_TIMEOUT: Final = 5.0


def wal_budget(max_bytes: int) -> int:
    """Bytes of ``max_bytes`` reserved for the WAL."""
    return max(64 * 1024, min(max_bytes // 8, 32 * 1024 * 1024))


class SqliteQueue(ChunkQueue):
    """Readings in ``<data_dir>/queue/readings.db``; ids' high-water mark in ``ids.hwm``."""

    def __init__(self, config: QueueConfig, data_dir: Path) -> None:
        super().__init__(config, IdAllocator(None))
        self.dir = Path(data_dir) / "queue"
        wal = wal_budget(config.max_bytes)
        self._data_budget = int((config.max_bytes - wal - SHM_RESERVE) * 0.95)
        self._store = Store(self.dir, wal, self._data_budget, config.verify_on_open)
        self._ratio = INITIAL_RATIO
        self._cap = int(self._data_budget / self._ratio)
        self._interval = float(config.commit_interval)
        if self._interval <= 0:
            self._chunk_size = 1
        self._mem_cap = int(config.memory_max_bytes)
        self.commit_bytes = max(4096, min(wal // 8, self._mem_cap // 2))
        self._executor: ThreadPoolExecutor | None = None
        self._unwritten: dict[int, Chunk] = {}  # MEM chunks by first id, in id order
        self._mem_bytes = 0  # bytes of chunks not on disk yet (MEM or WRITING)
        self._resident = 0  # bytes of DISK chunks whose blob is also in memory
        self._disk_logical = 0  # encoded bytes of the chunk rows in the database
        self._deletes: list[tuple[int, int]] = []  # (first_id, nbytes) to delete
        self._inflight: list[Chunk] = []  # chunks of the commit running now
        self._kick = Notify()
        self._committed = Notify()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._store_ok = False
        self._index_loaded = False
        self._retry_delay = 0.0
        self._check_next = False  # verify the file at the next reconnect (commit said damaged)
        #: Called on the event loop after each successful commit with ``durable_id``.
        self.on_commit: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="edgerun-queue")
        await self._call(self._prepare_dir)
        hwm = self.dir / HWM_NAME
        self.ids = IdAllocator(hwm)
        self._open_next = 0
        if not await self._call(hwm.is_file):
            # First start, or the mark was lost with the folder: ids from an earlier life
            # may be anywhere below the clock floor, so start above it.
            self.ids.ensure_above(clock_floor())
        await self._connect()
        if not self._index_loaded:
            # Nothing on disk could be read: stay above anything it may hold.
            self.ids.ensure_above(clock_floor())
        self._stats.disk_bytes = await self._call(self._store.disk_bytes)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="queue-commit")

    async def aclose(self) -> None:
        if self._task is None:
            return
        self._closing = True
        self._kick.set()
        try:
            await asyncio.shield(self._task)
        finally:
            self._task = None
            if self._executor is not None:
                await self._call(self._store.close)
                self._executor.shutdown(wait=True)
                self._executor = None

    def _prepare_dir(self) -> None:
        """Worker: the queue folder exists and the HWM file is a regular file (or absent)."""
        opened = Opened([])
        try:
            self._store._ensure_dir(opened.quarantined)
            hwm = self.dir / HWM_NAME
            if hwm.is_symlink() or (hwm.exists() and not hwm.is_file()):
                opened.quarantined.extend(quarantine(hwm, ("",)))
        except (StorageError, OSError) as exc:
            log.error("queue folder %s unusable: %s", self.dir, exc)
        self._stats.quarantined += len(opened.quarantined)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None, "open() the queue first"
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    async def _connect(self) -> bool:
        try:
            if self._index_loaded:
                moved = await self._call(self._store.reconnect, self._check_next)
                self._check_next = False
                if moved:
                    self._rebase(len(moved))
            else:
                opened = await self._call(self._store.open)
                self._adopt(opened)
        except StorageError as exc:
            self._set_degraded(str(exc))
            return False
        self._store_ok = True
        self._all_usable = True
        return True

    def _adopt(self, opened: Opened) -> None:
        """Merge the chunks found on disk into the (possibly already running) queue."""
        self._index_loaded = True
        self._stats.quarantined += len(opened.quarantined)
        if opened.bad_rows:
            self._drops.drop("corrupt", opened.bad_rows, "unreadable index rows")
        found = opened.chunks
        if not found:
            return
        self.ids.ensure_above(found[-1].last_id)
        for c in found:
            self._disk_logical += c.nbytes
            self._bytes += c.nbytes
            self._readings += c.count
        if self._ready and self._ready[0].first_id < found[-1].first_id:
            merged = sorted([*found, *self._ready], key=lambda c: c.first_id)
            self._ready.clear()
            self._ready.extend(merged)
        else:
            self._ready.extendleft(reversed(found))
        self._data.set()

    def _rebase(self, moved: int) -> None:
        """The damaged file was replaced by an empty one while running.

        Chunks whose blob is still in memory go back to the write path (nothing lost);
        the others existed only in the old file and are counted ``corrupt``.
        """
        self._stats.quarantined += moved
        self._disk_logical = 0
        self._deletes.clear()
        back: list[Chunk] = []
        for b in self._leased.values():
            back.extend(c for c in b.chunks if c.state == DISK)
        keep = []
        for c in self._ready:
            if c.state != DISK:
                keep.append(c)
            elif c.blob:
                back.append(c)
                keep.append(c)
            else:
                self._bytes -= c.nbytes
                self._readings -= c.count
                self._drops.drop("corrupt", c.count, "lost with the damaged queue file")
                c.state = GONE
        self._ready.clear()
        self._ready.extend(keep)
        for c in back:
            c.state = MEM
            self._resident -= c.nbytes
            self._mem_bytes += c.nbytes
        merged = {c.first_id: c for c in back} | self._unwritten
        self._unwritten = dict(sorted(merged.items()))

    # ------------------------------------------------------------ storage hooks
    def _sealed(self, chunk: Chunk) -> None:
        self._unwritten[chunk.first_id] = chunk
        self._mem_bytes += chunk.nbytes
        if self._mem_bytes >= self.commit_bytes or self._interval <= 0:
            self._kick.set()

    def _removed(self, chunk: Chunk) -> None:
        state = chunk.state
        if state == MEM:
            del self._unwritten[chunk.first_id]
            self._mem_bytes -= chunk.nbytes
        elif state == WRITING:
            self._mem_bytes -= chunk.nbytes
            self._deletes.append((chunk.first_id, chunk.nbytes))
        elif state == DISK:
            if chunk.blob:
                self._resident -= chunk.nbytes
            self._deletes.append((chunk.first_id, chunk.nbytes))
        chunk.state = GONE

    def ack(self, batch: Batch) -> None:
        super().ack(batch)
        # Acked chunks leave memory without a commit: a producer may be waiting for that.
        if self._mem_bytes < self.commit_bytes:
            self._committed.set()

    def _mergeable(self, chunk: Chunk) -> bool:
        return chunk.state in (MEM, DISK)

    def _replaced(self, old: Chunk, new: Chunk) -> None:
        if old.state == MEM:
            del self._unwritten[old.first_id]
            self._mem_bytes -= old.nbytes
        else:  # DISK: the longer chunk replaces the row (deletes run before inserts)
            self._resident -= old.nbytes
            self._deletes.append((old.first_id, old.nbytes))
        old.state = GONE
        self._sealed(new)

    def _memory_full(self) -> bool:
        return self._mem_bytes >= self._mem_cap

    def _relieve_memory(self) -> None:
        leased = {c.first_id for b in self._leased.values() for c in b.chunks}
        victims: list[Chunk] = []
        freed = 0
        for first, c in self._unwritten.items():
            if self._mem_bytes - freed < self._mem_cap:
                break
            if first not in leased:
                victims.append(c)
                freed += c.nbytes
        if not victims:
            return
        gone = {id(c) for c in victims}
        self._ready = type(self._ready)(c for c in self._ready if id(c) not in gone)
        for c in victims:
            self._drop_chunk(c, "overflow")

    def _writable(self) -> bool:
        if self._interval <= 0:
            return False
        return self._mem_bytes < self.commit_bytes * 3 // 2 or bool(self._stats.degraded)

    def _usable(self, chunk: Chunk) -> bool:
        return bool(chunk.blob)

    async def wait_writable(self) -> None:
        deadline = time.monotonic() + WRITABLE_TIMEOUT
        while not self._closing and not self._stats.degraded:
            if self._interval <= 0:
                if not self._mem_bytes:
                    return
            elif self._mem_bytes < self.commit_bytes:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._kick.set()
            await self._committed.wait(left)
        await anyio.lowlevel.checkpoint()

    async def _fill(self, batch: Batch) -> Batch | None:
        missing = [c.first_id for c in batch.chunks if not c.blob]
        if not missing:
            return batch
        try:
            blobs = await self._call(self._store.load, missing)
        except StorageError as exc:
            self._forget_lease(batch)
            self._return(batch.chunks)
            self._set_degraded(str(exc))
            self._store_ok = False
            self._all_usable = False
            return None
        keep: list[Chunk] = []
        for c in batch.chunks:
            if c.blob:
                keep.append(c)
                continue
            blob = blobs.get(c.first_id)
            if blob is None:
                self._bytes -= c.nbytes
                self._readings -= c.count
                self._drops.drop("corrupt", c.count, "stored chunk failed its check")
                self._removed(c)
                continue
            c.blob = blob
            self._resident += c.nbytes
            keep.append(c)
        if len(keep) == len(batch.chunks):
            return batch
        self._forget_lease(batch)
        if not keep:
            return None
        return self._lend(keep, batch.hist)

    # --------------------------------------------------------------- commit task
    async def _run(self) -> None:
        next_tick = time.monotonic() + self._interval
        wait: float | None
        while True:
            now = time.monotonic()
            if self._stats.degraded:
                wait = self._retry_delay
            elif self._mem_bytes >= self.commit_bytes or (self._interval <= 0 and self._unwritten):
                wait = 0.0
            else:
                wait = max(0.0, next_tick - now) if self._interval > 0 else None
            if wait is None or (wait > 0 and not self._closing):
                await self._kick.wait(wait)
            now = time.monotonic()
            if now >= next_tick or self._closing:
                self._seal(merge=True)
                self._expire()
                next_tick = now + self._interval
            try:
                await self._flush()
            except Exception:  # the commit task must outlive any one bug
                log.exception("queue commit failed unexpectedly")
                self._set_degraded("unexpected commit error")
                self._store_ok = False
            if self._closing:
                if self._unwritten:
                    log.error(
                        "queue closed degraded: %d readings in memory are lost",
                        sum(c.count for c in self._unwritten.values()),
                    )
                return

    async def _flush(self) -> None:
        if not self._store_ok:
            if not await self._connect():
                return
            if not (self._unwritten or self._deletes):
                self._recovered()
        while self._unwritten or self._deletes:
            if not self._store_ok and not await self._connect():
                return
            inserts: list[Chunk] = []
            size = 0
            # While degraded, deletes go first on their own: on a full disk they free the
            # pages the inserts need.
            if not (self._stats.degraded and self._deletes):
                for c in self._unwritten.values():
                    if inserts and size + c.nbytes > self.commit_bytes:
                        break
                    inserts.append(c)
                    size += c.nbytes
            for c in inserts:
                del self._unwritten[c.first_id]
                c.state = WRITING
            self._inflight = inserts
            deletes, self._deletes = self._deletes, []
            try:
                info = await self._call(self._store.commit, inserts, [d for d, _ in deletes])
            except StorageError as exc:
                self._undo(inserts, deletes)
                self._check_next = isinstance(exc, DamagedError)
                self._set_degraded(str(exc))
                if not exc.full:  # a full disk still reads: keep leasing what is on it
                    await self._call(self._store.close)
                    self._store_ok = False
                    self._all_usable = False
                self._committed.set()
                return
            except BaseException:
                self._undo(inserts, deletes)
                raise
            self._applied(inserts, deletes, info)

    def _undo(self, inserts: list[Chunk], deletes: list[tuple[int, int]]) -> None:
        self._inflight = []
        gone = {c.first_id for c in inserts if c.state == GONE}
        if gone:  # acked while being written: the deletes queued since have nothing to do
            self._deletes = [d for d in self._deletes if d[0] not in gone]
        self._deletes[:0] = deletes  # these rows are still on disk
        back = [c for c in inserts if c.state == WRITING]
        for c in back:
            c.state = MEM
        if back:
            merged = {c.first_id: c for c in back} | self._unwritten
            self._unwritten = dict(sorted(merged.items()))

    def _applied(
        self, inserts: list[Chunk], deletes: list[tuple[int, int]], info: CommitInfo
    ) -> None:
        self._inflight = []
        for c in inserts:
            self._disk_logical += c.nbytes
            if c.state == WRITING:
                c.state = DISK
                self._mem_bytes -= c.nbytes
                self._resident += c.nbytes
        for _, nbytes in deletes:
            self._disk_logical -= nbytes
        st = self._stats
        st.commits += 1
        st.commit_seconds_last = info.seconds
        st.commit_seconds_total += info.seconds
        st.disk_bytes = info.disk_bytes
        if self._disk_logical >= 64 * 1024 and info.used_bytes >= 0:
            self._ratio = min(4.0, max(1.0, info.used_bytes / self._disk_logical))
            self._cap = int(self._data_budget / self._ratio)
        if inserts or not self._unwritten:  # deletes alone do not prove the disk writable
            self._recovered()
        self._evict()
        if self.config.overflow == "drop_oldest":
            while self._bytes > self._cap and self._ready:
                self._drop_chunk(self._ready.popleft(), "overflow")
        self._committed.set()
        if self.on_commit is not None:
            self.on_commit(self.durable_id())

    def _recovered(self) -> None:
        st = self._stats
        if st.degraded:
            log.warning("queue back on disk after: %s", st.degraded_reason)
            st.degraded = False
            st.degraded_reason = ""
            self._data.set()  # chunks that could not be read may be leased again
        self._retry_delay = 0.0

    def _evict(self) -> None:
        limit = self.config.cache_bytes
        if self._resident <= limit:
            return
        for c in self._ready:
            if self._resident <= limit:
                break
            if c.state == DISK and c.blob:
                c.blob = b""
                self._resident -= c.nbytes

    def _set_degraded(self, reason: str) -> None:
        st = self._stats
        if not st.degraded:
            log.error("queue degraded, readings kept in memory: %s", reason)
        st.degraded = True
        st.degraded_reason = reason
        cap = float(self.config.retry_interval)
        self._retry_delay = (
            min(cap, max(0.25, self._retry_delay * 2)) if self._retry_delay else min(cap, 0.5)
        )

    def durable_id(self) -> int:
        """Every accepted reading with an id up to this is on disk or acknowledged."""
        floor = self.ids.next_id - 1
        if self._open:
            floor = min(floor, int(self._open[0][0]) - 1)  # type: ignore[call-overload]
        if self._unwritten:
            floor = min(floor, next(iter(self._unwritten)) - 1)
        for c in self._inflight:
            if c.state == WRITING:
                floor = min(floor, c.first_id - 1)
                break
        return floor

    def stats(self) -> QueueStats:
        st = super().stats()
        st.memory_bytes = self._mem_bytes
        st.durable_id = self.durable_id()
        return st


__all__ = ["SqliteQueue", "wal_budget"]
