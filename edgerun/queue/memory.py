"""The memory-only queue: the same contract as the SQLite queue, nothing on disk.

For tests, benchmarks and diskless gateways. Bounded by ``max_bytes`` (encoded size) and
``max_age`` like the durable queue; readings are lost when the process ends. Ids come from a
high-water-mark file when one is given (so they stay unique across restarts), else from the
wall clock.
"""

from __future__ import annotations

import anyio

from edgerun.queue.config import QueueConfig
from edgerun.queue.core import ChunkQueue
from edgerun.queue.ids import IdAllocator


class MemoryQueue(ChunkQueue):
    """Chunks in memory only."""

    def __init__(self, config: QueueConfig, ids: IdAllocator | None = None) -> None:
        super().__init__(config, ids or IdAllocator(None))

    async def open(self) -> None:
        """Nothing to recover."""

    async def aclose(self) -> None:
        self._seal()

    async def wait_writable(self) -> None:
        # Memory never waits for a disk; yield so the uplink gets the loop.
        await anyio.lowlevel.checkpoint()
