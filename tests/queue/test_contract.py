"""The ReadingQueue contract, run against the memory and the SQLite backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from edgerun.queue import core
from tests.queue.conftest import decode, drain, row

pytestmark = pytest.mark.anyio

MakeQueue = Callable[..., Any]


async def test_ids_increase_and_rows_round_trip(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=100)
    for i in range(1234):
        q.offer(row(i))
    rows = await drain(q)
    ids = [r[0] for r in rows]
    assert ids == list(range(ids[0], ids[0] + 1234))
    assert [r[4] for r in rows] == list(range(1234))
    assert rows[5][1:] == [1_700_000_000_005, "bus/dev-1", "temperature", 5, "Cel", True, None]
    st = q.stats()
    assert (st.accepted, st.acked, st.depth_readings, st.depth_bytes) == (1234, 1234, 0, 0)


async def test_outstanding_leases_are_disjoint_and_ack_in_any_order(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=10)
    for i in range(100):
        q.offer(row(i))
    batches = [await q.lease(30, 1 << 20, 0) for _ in range(3)]
    seen = [r[0] for b in batches for r in decode(b)]
    assert len(seen) == len(set(seen)) == 90
    assert q.stats().leased_readings == 90
    q.ack(batches[2])
    q.ack(batches[0])
    assert q.stats().leased_readings == 30
    q.ack(batches[0])  # a second ack of the same lease changes nothing
    assert q.stats().acked == 60
    rest = await drain(q)
    q.ack(batches[1])
    assert len(rest) == 10
    assert q.stats().depth_readings == 0


async def test_nack_returns_readings_in_order(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=10)
    for i in range(50):
        q.offer(row(i))
    b1 = await q.lease(10, 1 << 20, 0)
    b2 = await q.lease(10, 1 << 20, 0)
    b3 = await q.lease(10, 1 << 20, 0)
    q.nack(b2)
    q.nack(b1)
    q.ack(b3)
    vals = [r[4] for r in await drain(q)]
    assert vals == list(range(0, 20)) + list(range(30, 50))


async def test_lease_respects_reading_and_byte_limits(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=50)
    for i in range(500):
        q.offer(row(i))
    b = await q.lease(120, 1 << 20, 0)
    assert b.count == 100
    assert len(b.chunks) == 2
    one = b.chunks[0].nbytes
    b2 = await q.lease(1000, one + 1, 0)
    assert b2.count == 50  # a single chunk, even if a second would fit the reading limit
    big = await q.lease(1, 1, 0)
    assert big.count == 50  # one chunk is always allowed, even above the limits


async def test_partial_chunk_flushed_after_flush_after(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=500)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            got: list[int] = []

            async def consume() -> None:
                b = await q.lease(1000, 1 << 20, 0.05)
                got.extend(r[4] for r in decode(b))
                q.ack(b)

            tg.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            for i in range(3):
                q.offer(row(i))
    assert got == [0, 1, 2]


async def test_live_readings_leased_ahead_of_backlog(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000_000_000]
    monkeypatch.setattr(core, "now_ms", lambda: clock[0])
    q = await make_queue(chunk_readings=100, live_window=30.0)
    for i in range(300):
        q.offer(row(i))
    clock[0] += 3_600_000  # an hour of outage
    for i in range(300, 400):
        q.offer(row(i))
    live = await q.lease(100, 1 << 20, 0)
    assert not live.hist
    assert [r[4] for r in decode(live)] == list(range(300, 400))
    hist = await q.lease(150, 1 << 20, 0)
    assert hist.hist
    assert [r[4] for r in decode(hist)] == list(range(0, 100))
    q.nack(live)
    again = await q.lease(100, 1 << 20, 0)
    assert not again.hist
    assert again.first_id == live.first_id


async def test_age_bound_drops_expired_readings(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000_000_000]
    monkeypatch.setattr(core, "now_ms", lambda: clock[0])
    q = await make_queue(chunk_readings=10, max_age=60.0)
    for i in range(30):
        q.offer(row(i))
    clock[0] += 61_000
    for i in range(30, 35):
        q.offer(row(i))
    vals = [r[4] for r in await drain(q)]
    assert vals == list(range(30, 35))
    assert q.stats().dropped["expired"] == 30


async def test_drop_oldest_counts_every_drop(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=50, max_bytes=256 * 1024, overflow="drop_oldest")
    n = 60_000  # several times what 256 KiB holds
    for i in range(n):
        if not q.offer(row(i)):
            await q.wait_writable()
    st = q.stats()
    dropped = st.dropped["overflow"]
    assert dropped > 0
    assert st.accepted == n
    vals = [r[4] for r in await drain(q)]
    assert len(vals) + dropped == n
    assert vals == sorted(vals)
    assert vals[-1] == n - 1
    # what is left is the newest: every dropped reading is older than every survivor
    assert vals == list(range(n - len(vals), n))


async def test_reject_new_keeps_the_oldest(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=50, max_bytes=256 * 1024, overflow="reject_new")
    n = 60_000
    for i in range(n):
        if not q.offer(row(i)):
            await q.wait_writable()
    st = q.stats()
    assert st.dropped["rejected"] > 0
    assert st.accepted + st.dropped["rejected"] == n
    vals = [r[4] for r in await drain(q)]
    assert vals == list(range(len(vals)))
    assert len(vals) == st.accepted


async def test_unencodable_row_is_counted_not_fatal(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=5)
    for i in range(5):
        r = row(i)
        if i == 2:
            r = (*r[:6], {"bad": object()})
        q.offer(r)
    vals = [r[4] for r in await drain(q)]
    assert vals == [0, 1, 3, 4]
    assert q.stats().dropped["invalid"] == 1


async def test_count_drop_and_stats(make_queue: MakeQueue) -> None:
    q = await make_queue(chunk_readings=10)
    q.count_drop("filtered", 3)
    q.count_drop("invalid")
    for i in range(25):
        q.offer(row(i))
    b = await q.lease(10, 1 << 20, 0)
    st = q.stats()
    assert st.dropped["filtered"] == 3
    assert st.dropped["invalid"] == 1
    assert st.depth_readings == 25
    assert st.leased_readings == 10
    assert st.depth_bytes > 0
    assert st.oldest_age_s >= 0
    assert st.next_id == b.first_id + 25
    q.ack(b)
    assert q.stats().depth_readings == 15
