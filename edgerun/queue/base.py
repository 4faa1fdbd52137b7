"""The queue's contract: what the normalizer puts in and what the uplink leases out.

Readings enter one row at a time (:meth:`ReadingQueue.offer`), get a stable 64-bit id, and
are grouped into *chunks*: runs of consecutive ids whose rows are already msgpack-encoded
(``[id, ts, dev, q, val, unit, sync, x]`` per row, concatenated without an array header), so
the uplink ships them without re-encoding. The uplink *leases* a :class:`Batch` of whole
chunks, publishes it and then *acks* (deleted) or *nacks* (returned, order kept) it. Several
leases may be outstanding. Nothing is deleted before its ack; a crash between lease and ack
redelivers (at-least-once; the datacenter dedupes on gateway id + reading id).
"""

from __future__ import annotations

import abc

import msgpack
import msgspec

from edgerun.readings import Row


class Chunk(msgspec.Struct, gc=False):
    """Consecutive readings ``first_id .. first_id + count - 1``, encoded.

    One is made per sealed run of readings, so it is a Struct without a GC header
    (``gc=False``): every field is a number or bytes and can never be part of a cycle.
    """

    first_id: int
    count: int
    #: ``count`` msgpack-encoded rows, concatenated (no array header).
    blob: bytes
    #: Wall-clock ms when the chunk's first reading was accepted; decides live vs backlog.
    accepted_ms: int
    #: Oldest reading timestamp in the chunk (for age bounds and stats).
    oldest_ts_ms: int
    #: Encoded size; stays known while a durable queue keeps the blob only on disk.
    nbytes: int = -1
    #: Storage state, owned by the queue (0 memory only, 1 being written, 2 on disk).
    #: Part of ``repr`` and ``==`` like every field (chunks are never compared by value).
    state: int = 0

    def __post_init__(self) -> None:
        if self.nbytes < 0:
            self.nbytes = len(self.blob)

    @property
    def last_id(self) -> int:
        return self.first_id + self.count - 1


class Batch(msgspec.Struct):
    """A lease: whole chunks handed to the uplink until acked or nacked."""

    lease_id: int
    chunks: list[Chunk]
    #: True when the batch is backlog from an outage rather than live data.
    hist: bool
    #: Readings and encoded bytes of all chunks, computed at construction (a value
    #: passed for them is replaced).
    count: int = 0
    nbytes: int = 0

    def __post_init__(self) -> None:
        self.count = sum(c.count for c in self.chunks)
        self.nbytes = sum(c.nbytes for c in self.chunks)

    @property
    def first_id(self) -> int:
        return self.chunks[0].first_id

    @property
    def last_id(self) -> int:
        return self.chunks[-1].last_id

    def rows_blob(self) -> bytes:
        """The batch's rows: ``count`` msgpack values, concatenated."""
        if len(self.chunks) == 1:
            return self.chunks[0].blob
        return b"".join(c.blob for c in self.chunks)


DROP_REASONS = ("overflow", "expired", "corrupt", "rejected", "invalid", "filtered")


class QueueStats(msgspec.Struct):
    """A snapshot for status, logs and metrics."""

    depth_readings: int = 0
    depth_bytes: int = 0
    leased_readings: int = 0
    oldest_age_s: float = 0.0
    accepted: int = 0
    acked: int = 0
    dropped: dict[str, int] = msgspec.field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    commits: int = 0
    commit_seconds_total: float = 0.0
    commit_seconds_last: float = 0.0
    disk_bytes: int = 0
    degraded: bool = False
    degraded_reason: str = ""
    next_id: int = 0
    #: Every accepted reading with an id up to this one is on disk or acknowledged.
    durable_id: int = 0
    #: Readings held only in memory (not yet committed), in bytes.
    memory_bytes: int = 0
    #: Queue files moved aside because they could not be used (corrupt, unreadable).
    quarantined: int = 0


def encode_rows(rows: list[list[object]]) -> bytes:
    """Encode rows as concatenated msgpack values (one ``packb`` call, header stripped)."""
    packed: bytes = msgpack.packb(rows, use_bin_type=True)
    n = len(rows)
    if n < 16:
        return packed[1:]
    if n < 0x10000:
        return packed[3:]
    return packed[5:]


class QueueFull(Exception):
    """Raised by :meth:`ReadingQueue.offer` never; documented for policy ``reject_new``."""


class ReadingQueue(abc.ABC):
    """Interface implemented by the memory and the SQLite queue (one test suite for both)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open storage, recover what a previous run left, start background work."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Commit what was accepted and close. Leased-but-unacked readings stay queued."""

    @abc.abstractmethod
    def offer(self, row: Row) -> bool:
        """Accept one normalized row and assign its id.

        Returns ``True`` when the caller may go on offering, ``False`` when it should first
        await :meth:`wait_writable` (backpressure: too much accepted but not yet stored).
        With policy ``reject_new`` and a full queue the row is dropped and counted as
        ``rejected``. Never raises for a full or failing disk.
        """

    @abc.abstractmethod
    async def wait_writable(self) -> None:
        """Wait until :meth:`offer` may be called again without growing memory."""

    @abc.abstractmethod
    async def lease(self, max_readings: int, max_bytes: int, flush_after: float) -> Batch:
        """Wait for readings and lease a batch of whole chunks.

        At most ``max_readings`` / ``max_bytes`` unless a single chunk is larger. Readings
        not yet sealed into a chunk are sealed once the oldest of them has waited
        ``flush_after`` seconds. Live readings are leased ahead of backlog.
        """

    @abc.abstractmethod
    def ack(self, batch: Batch) -> None:
        """The batch was delivered: delete its readings."""

    @abc.abstractmethod
    def nack(self, batch: Batch) -> None:
        """The batch was not delivered: return it, ahead of later readings of its kind."""

    @abc.abstractmethod
    def stats(self) -> QueueStats:
        """A consistent snapshot of the counters."""

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Count readings dropped before they reached the queue (invalid, filtered)."""
        raise NotImplementedError
