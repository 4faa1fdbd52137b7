"""Broker restarts during a steady stream: nothing lost, duplicates counted, order kept."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector, gateway, memory_queue, row

pytestmark = pytest.mark.anyio

RESTARTS = 10


async def wait_until(cond: object, timeout: float, what: str) -> None:
    with anyio.fail_after(timeout):
        while not cond():  # type: ignore[operator]
            await anyio.sleep(0.01)  # polling state with a deadline
    assert cond(), what  # type: ignore[operator]


async def test_broker_restarted_ten_times_loses_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, persistence=True)
    broker.start()
    try:
        q = await memory_queue(chunk_readings=50)
        cfg = convert(
            {"url": broker.url, "backoff_base": 0.05, "backoff_cap": 0.3, "flush_interval": 0.02},
            UplinkConfig,
        )
        up = Uplink(cfg, gateway(), q, dict)
        col = Collector(broker.host, broker.port, persistent=True)
        offered = 0
        stop_feeding = anyio.Event()

        async def feed() -> None:
            nonlocal offered
            while not stop_feeding.is_set():
                for _ in range(50):
                    q.offer(row(offered))
                    offered += 1
                await anyio.sleep(0.005)  # the stream's pace: ~10,000 readings/s

        async with anyio.create_task_group() as tg:
            await tg.start(col.run)
            await tg.start(up.run)
            tg.start_soon(feed)
            for k in range(RESTARTS):
                before = len(col.ids)
                await col.wait_for(lambda b=before: len(col.ids) > b + 200, 15, f"flow {k}")
                broker.stop()
                await wait_until(lambda: not up.stats().connected, 10, "uplink saw the drop")
                broker.start()
                await wait_until(lambda k=k: up.stats().connects >= k + 2, 15, "reconnected")
            stop_feeding.set()
            await col.wait_for(lambda: len(col.ids) >= offered, 30, "every reading arrives")
            tg.cancel_scope.cancel()
        first = q.stats().next_id - offered
        assert set(col.ids) == set(range(first, first + offered)), "no reading lost"
        st = up.stats()
        assert st.reconnects >= RESTARTS
        assert st.drops >= RESTARTS
        # Duplicates are allowed (at-least-once) and counted; report them for the record.
        print(
            f"readings={offered} duplicates={col.duplicates} redelivered={st.batches_redelivered}"
        )
        # First deliveries keep the id order.
        seen: set[int] = set()
        firsts = [i for i in col.order if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
        assert firsts == sorted(firsts)
    finally:
        broker.close()
