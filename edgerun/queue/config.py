"""The ``[queue]`` table; docs/queue.md explains each trade-off."""

from __future__ import annotations

from typing import Literal

from edgerun.config.base import ByteSize, Duration, Strict, in_range

#: Below this the WAL, one commit and a few chunks no longer fit side by side.
MIN_MAX_BYTES = 256 * 1024


class QueueConfig(Strict):
    """Store-and-forward queue settings; docs/queue.md explains each trade-off."""

    #: ``sqlite`` keeps readings in ``<data_dir>/queue``; ``memory`` is for tests and
    #: diskless gateways (readings are lost on restart).
    backend: Literal["sqlite", "memory"] = "sqlite"
    #: Upper bound of the queue's files on disk (database + WAL).
    max_bytes: ByteSize = ByteSize(256 * 1024 * 1024)
    #: Readings accepted longer ago than this are dropped (counted as ``expired``).
    max_age: Duration = Duration(7 * 86400)
    #: What happens when ``max_bytes`` is reached.
    overflow: Literal["drop_oldest", "reject_new"] = "drop_oldest"
    #: Group commit: readings accepted within this interval go to disk in one
    #: transaction. 0 commits every reading (slow on SD cards).
    commit_interval: Duration = Duration(1.0)
    #: Readings per stored chunk; a chunk is the unit the uplink leases.
    chunk_readings: int = 500
    #: Readings younger than this are "live" and leased ahead of an older backlog.
    live_window: Duration = Duration(30.0)
    #: Readings held in memory and not yet on disk (between commits, or while the disk is
    #: full or failing); beyond it the overflow policy applies to them.
    memory_max_bytes: ByteSize = ByteSize(8 * 1024 * 1024)
    #: Committed readings also kept in memory so leasing them needs no disk read.
    cache_bytes: ByteSize = ByteSize(2 * 1024 * 1024)
    #: Longest wait between attempts to get back to disk while degraded.
    retry_interval: Duration = Duration(5.0)
    #: Run SQLite's ``quick_check`` when opening (reads the whole file once per start).
    verify_on_open: bool = True

    def __post_init__(self) -> None:
        in_range("max_bytes", self.max_bytes, ge=MIN_MAX_BYTES, unit=" bytes")
        in_range("chunk_readings", self.chunk_readings, ge=1, le=1_000_000)
        in_range("max_age", self.max_age, gt=0, unit=" s")
        in_range("commit_interval", self.commit_interval, ge=0, le=3600, unit=" s")
        in_range("memory_max_bytes", self.memory_max_bytes, ge=64 * 1024, unit=" bytes")
        in_range("retry_interval", self.retry_interval, gt=0, le=86400, unit=" s")
