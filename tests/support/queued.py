"""Read back what a gateway process left in its durable queue."""

from __future__ import annotations

from pathlib import Path

import msgpack

from edgerun.config.base import convert
from edgerun.queue.config import QueueConfig


async def drain_queue(data_dir: Path) -> list[list[object]]:
    """Open the queue under ``data_dir``, lease and ack everything; returns the rows."""
    from edgerun.queue import open_queue

    queue = open_queue(convert({}, QueueConfig), data_dir)
    await queue.open()
    rows: list[list[object]] = []
    try:
        while queue.stats().depth_readings:
            batch = await queue.lease(100_000, 1 << 30, 0)
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(batch.rows_blob())
            rows.extend(unpacker)
            queue.ack(batch)
    finally:
        await queue.aclose()
    return rows
