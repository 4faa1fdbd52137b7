"""normalize -> queue: durable store-and-forward of readings (SQLite or memory).

:func:`open_queue` builds the queue ``[queue]`` asks for; the supervisor then awaits
``open()`` and, at shutdown, ``aclose()``. docs/queue.md describes guarantees and limits.
"""

from __future__ import annotations

from pathlib import Path

# edgerun.config imports edgerun.queue.config; load it first so either import order works.
import edgerun.config  # noqa: F401
from edgerun.queue.base import Batch, Chunk, QueueStats, ReadingQueue
from edgerun.queue.config import QueueConfig


def open_queue(config: QueueConfig, data_dir: Path) -> ReadingQueue:
    """The queue for ``config``, not yet opened; SQLite files go to ``data_dir/queue``.

    The memory backend takes its ids from the wall clock (ms x 1000): a diskless gateway
    has nowhere to keep a high-water mark, and the clock keeps ids above any earlier run.
    """
    if config.backend == "memory":
        from edgerun.queue.memory import MemoryQueue

        return MemoryQueue(config)
    from edgerun.queue.sqlite import SqliteQueue

    return SqliteQueue(config, Path(data_dir))


__all__ = ["Batch", "Chunk", "QueueConfig", "QueueStats", "ReadingQueue", "open_queue"]
