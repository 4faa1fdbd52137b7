"""SQLite backend: restarts, memory-first writes, the on-disk byte bound, stored checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from edgerun.queue import QueueConfig, core, open_queue
from edgerun.queue.ids import clock_floor
from edgerun.queue.memory import MemoryQueue
from edgerun.queue.sqlite import SqliteQueue, wal_budget
from tests.queue.conftest import committed, decode, drain, files_bytes, opened, row

pytestmark = pytest.mark.anyio


async def test_restart_keeps_unacked_and_redelivers_leased(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100, commit_interval=0.05)
    for i in range(1000):
        q.offer(row(i))
    acked = await q.lease(200, 1 << 20, 0)
    leased = await q.lease(300, 1 << 20, 0)
    q.ack(acked)
    last_id = q.stats().next_id - 1
    await q.aclose()

    q2 = await opened(tmp_path, chunk_readings=100)
    assert q2.stats().depth_readings == 800
    rows = await drain(q2)
    vals = sorted(r[4] for r in rows)
    assert vals == list(range(200, 1000))
    leased_ids = {r[0] for r in decode(leased)}
    assert leased_ids <= {r[0] for r in rows}
    q2.offer(row(5000))
    new = await q2.lease(10, 1 << 20, 0)
    assert new.first_id > last_id
    await q2.aclose()


async def test_readings_acked_before_their_commit_are_never_written(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=500, commit_interval=30.0)
    n = 50_000
    encoded = 0
    for i in range(n):
        q.offer(row(i))
        if i % 500 == 499:
            b = await q.lease(500, 1 << 20, 0)
            encoded += b.nbytes
            q.ack(b)
    assert q.stats().acked == n
    await q.aclose()
    assert q.stats().commits == 0
    # the files hold the schema only, not the ~2 MB that passed through
    assert files_bytes(tmp_path) < encoded // 20
    q2 = await opened(tmp_path)
    assert q2.stats().depth_readings == 0
    await q2.aclose()


async def test_commit_interval_zero_makes_each_reading_durable(tmp_path: Path) -> None:
    q = await opened(tmp_path, commit_interval=0.0)
    for i in range(20):
        assert not q.offer(row(i))
        await q.wait_writable()
        assert q.stats().durable_id == q.stats().next_id - 1
    assert q.stats().commits >= 1
    db = sqlite3.connect(tmp_path / "queue" / "readings.db")
    try:
        assert db.execute("SELECT sum(count) FROM chunks").fetchone()[0] == 20
    finally:
        db.close()
    await q.aclose()


@pytest.mark.parametrize("policy", ["drop_oldest", "reject_new"])
async def test_disk_bound_holds_under_tenfold_overflow(tmp_path: Path, policy: str) -> None:
    max_bytes = 512 * 1024
    q = await opened(
        tmp_path, max_bytes=max_bytes, overflow=policy, commit_interval=0.02, chunk_readings=100
    )
    sizes: list[int] = []
    wals: list[int] = []
    wal = tmp_path / "queue" / "readings.db-wal"

    def measure(_durable: int) -> None:
        sizes.append(files_bytes(tmp_path))
        wals.append(wal.stat().st_size if wal.exists() else 0)

    q.on_commit = measure
    n = 0
    encoded_offered = 0
    while encoded_offered < 10 * max_bytes:
        r = row(n, dev=f"bus/device-{n % 97}")
        encoded_offered += 48
        n += 1
        if not q.offer(r):
            await q.wait_writable()
    await committed(q)
    sizes.append(files_bytes(tmp_path))
    st = q.stats()
    assert len(sizes) > 10
    assert max(sizes) <= max_bytes
    assert max(wals) <= wal_budget(max_bytes)  # checkpoints keep the WAL within its share
    assert st.disk_bytes <= max_bytes
    vals = sorted(r[4] for r in await drain(q))
    if policy == "drop_oldest":
        assert st.accepted == n
        assert st.dropped["overflow"] + len(vals) == n
        assert vals == list(range(n - len(vals), n))
    else:
        assert st.accepted + st.dropped["rejected"] == n
        assert st.dropped["overflow"] == 0
        assert vals == list(range(len(vals)))
    # the bound is used, not just respected: at least a third of it holds readings
    assert len(vals) * 40 > max_bytes // 3
    await q.aclose()
    assert files_bytes(tmp_path) <= max_bytes


async def test_backlog_blobs_leave_memory_and_come_back_from_disk(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100, cache_bytes=16 * 1024, commit_interval=0.02)
    for i in range(20_000):
        if not q.offer(row(i)):
            await q.wait_writable()
    await committed(q)
    assert q._resident <= 16 * 1024
    resident = [c for c in q._ready if c.blob]
    assert len(resident) < len(q._ready) // 10
    vals = [r[4] for r in await drain(q, limit=1000)]
    assert sorted(vals) == list(range(20_000))
    await q.aclose()


async def test_damaged_blob_is_dropped_as_corrupt(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100)
    for i in range(1000):
        q.offer(row(i))
    await q.aclose()
    db = sqlite3.connect(tmp_path / "queue" / "readings.db")
    first = db.execute("SELECT first_id FROM chunks ORDER BY first_id LIMIT 1 OFFSET 3").fetchone()[
        0
    ]
    db.execute("UPDATE chunks SET blob = zeroblob(nbytes) WHERE first_id = ?", (first,))
    db.commit()
    db.close()
    q2 = await opened(tmp_path, chunk_readings=100, cache_bytes=0)
    vals = sorted(r[4] for r in await drain(q2))
    assert vals == list(range(0, 300)) + list(range(400, 1000))
    assert q2.stats().dropped["corrupt"] == 100
    await q2.aclose()
    q3 = await opened(tmp_path)
    assert q3.stats().depth_readings == 0
    await q3.aclose()


async def test_acks_release_a_producer_waiting_for_memory(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100, commit_interval=30.0)
    i = 0
    while q.offer(row(i)):
        i += 1
        assert i < 1_000_000
    batches = []
    while q.stats().depth_readings - q.stats().leased_readings >= 100:
        batches.append(await q.lease(10_000, 1 << 30, 0))
    for b in batches:
        q.ack(b)
    # The acks free the memory; the producer must go on well before the wait's own safety
    # timeout (5 s).
    with anyio.fail_after(1):
        await q.wait_writable()
    assert q.stats().memory_bytes < q.commit_bytes
    await q.aclose()


async def test_slow_trickle_offline_merges_into_few_chunks(tmp_path: Path) -> None:
    q = await opened(tmp_path, commit_interval=0.01, chunk_readings=500)
    for i in range(120):
        q.offer(row(i))
        await committed(q)  # one reading per commit, like a slow sensor with the link down
    chunks = list(q._ready)
    assert len(chunks) <= 120 * 60 // 2048 + 2
    assert all(c.nbytes <= 2048 for c in chunks)
    await q.aclose()
    q2 = await opened(tmp_path)
    vals = [r[4] for r in await drain(q2)]
    assert vals == list(range(120))
    await q2.aclose()


async def test_backlog_from_disk_is_hist_and_live_goes_first(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100)
    for i in range(300):
        q.offer(row(i))
    await q.aclose()
    q2 = await opened(tmp_path, chunk_readings=100, live_window=1.0)
    # Make the stored chunks look an hour old, as after an outage.
    for c in q2._ready:
        c.accepted_ms -= 3_600_000
    for i in range(300, 400):
        q2.offer(row(i))
    live = await q2.lease(1000, 1 << 20, 0)
    assert not live.hist
    assert [r[4] for r in decode(live)] == list(range(300, 400))
    backlog = await q2.lease(1000, 1 << 20, 0)
    assert backlog.hist
    assert [r[4] for r in decode(backlog)] == list(range(300))
    q2.ack(live)
    q2.ack(backlog)
    await q2.aclose()


async def test_expired_readings_are_deleted_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = await opened(tmp_path, chunk_readings=100, max_age=60.0, commit_interval=0.02)
    for i in range(500):
        q.offer(row(i))
    await committed(q)
    clock = [core.now_ms() + 120_000]
    monkeypatch.setattr(core, "now_ms", lambda: clock[0])
    q.offer(row(500))
    await committed(q)
    assert q.stats().dropped["expired"] == 500
    await q.aclose()
    monkeypatch.undo()
    q2 = await opened(tmp_path)
    assert [r[4] for r in await drain(q2)] == [500]
    await q2.aclose()


async def test_factory_builds_unopened_queues(tmp_path: Path) -> None:
    q = open_queue(QueueConfig(), tmp_path)
    assert isinstance(q, SqliteQueue)
    assert not (tmp_path / "queue").exists()  # nothing touched before open()
    m = open_queue(QueueConfig(backend="memory"), tmp_path)
    assert isinstance(m, MemoryQueue)
    await m.open()
    m.offer(row(1))
    b = await m.lease(10, 1 << 20, 0)
    assert b.first_id >= clock_floor() - 10_000_000  # ids from the clock, not from 1
    await m.aclose()
