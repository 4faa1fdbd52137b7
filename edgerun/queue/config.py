"""The ``[queue]`` table."""

from __future__ import annotations

from typing import Literal

from edgerun.config.base import ByteSize, Duration, Strict


class QueueConfig(Strict):
    """Store-and-forward queue settings; docs/queue.md explains each trade-off."""

    #: ``sqlite`` keeps readings in ``<data_dir>/queue``; ``memory`` is for tests and
    #: diskless gateways (readings are lost on restart).
    backend: Literal["sqlite", "memory"] = "sqlite"
    #: Upper bound of the queue's files on disk (database + WAL).
    max_bytes: ByteSize = ByteSize(256 * 1024 * 1024)
    #: Readings older than this are dropped (counted as ``expired``).
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
