"""Fixtures for the queue tests: one suite, both backends."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import msgpack
import pytest

from edgerun.queue import QueueConfig, ReadingQueue, open_queue
from edgerun.queue.base import Batch
from edgerun.queue.sqlite import SqliteQueue
from edgerun.readings import Row

QueueFactory = Callable[..., ReadingQueue]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def row(i: int, dev: str = "bus/dev-1", ts: int | None = None) -> Row:
    """A reading whose value identifies it."""
    return (
        ts if ts is not None else 1_700_000_000_000 + i,
        dev,
        "temperature",
        i,
        "Cel",
        True,
        None,
    )


def decode(batch: Batch) -> list[list[Any]]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(batch.rows_blob())
    rows = list(unpacker)
    assert len(rows) == batch.count
    return rows


def config(**kw: Any) -> QueueConfig:
    return QueueConfig(**kw)


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_queue(backend: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_queue(**config)`` -> an opened queue of the parametrized backend."""
    opened: list[ReadingQueue] = []

    async def make(**kw: Any) -> ReadingQueue:
        q = open_queue(QueueConfig(backend=backend, **kw), tmp_path)  # type: ignore[arg-type]
        await q.open()
        opened.append(q)
        return q

    yield make
    for q in opened:
        await q.aclose()


async def drain(q: ReadingQueue, limit: int = 10_000, ack: bool = True) -> list[list[Any]]:
    """Lease (and ack) everything queued now; returns the rows in lease order."""
    out: list[list[Any]] = []
    while q.stats().depth_readings - q.stats().leased_readings > 0:
        b = await q.lease(limit, 1 << 30, 0)
        out.extend(decode(b))
        if ack:
            q.ack(b)
    return out


def files_bytes(data_dir: Path) -> int:
    db = data_dir / "queue" / "readings.db"
    return sum(
        os.stat(f"{db}{s}").st_size for s in ("", "-wal", "-shm") if os.path.exists(f"{db}{s}")
    )


async def opened(data_dir: Path, **kw: object) -> SqliteQueue:
    q = SqliteQueue(QueueConfig(**kw), data_dir)  # type: ignore[arg-type]
    await q.open()
    return q


async def committed(q: SqliteQueue) -> None:
    """Wait (with a deadline) until every accepted reading is on disk or acked."""
    with anyio.fail_after(10):
        while q.stats().durable_id < q.stats().next_id - 1 or q.stats().memory_bytes:
            q._kick.set()
            await q._committed.wait(1.0)
