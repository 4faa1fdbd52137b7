"""A 100,000-reading backlog after an outage: live readings overtake it, backlog is ``hist``."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector, gateway, memory_queue, row

pytestmark = pytest.mark.anyio

BACKLOG = 100_000


@pytest.mark.timeout(120)
async def test_live_readings_arrive_before_the_backlog_is_done(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # not started: the outage
    q = await memory_queue(chunk_readings=500, live_window=0.3)
    cfg = convert(
        {"url": broker.url, "backoff_base": 0.05, "backoff_cap": 0.2, "inflight": 8},
        UplinkConfig,
    )
    up = Uplink(cfg, gateway(), q, dict)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(up.run)  # starts at once although the broker is down
            for i in range(BACKLOG):
                q.offer(row(i))
            backlog_ids = range(q.stats().next_id - BACKLOG, q.stats().next_id)
            # The newest backlog reading must age past the live window (0.3 s): the
            # condition here is the passing of time itself.
            offered_at = time.monotonic()
            while time.monotonic() - offered_at < 0.5:
                await anyio.sleep(0.05)
            assert up.stats().connects == 0
            assert up.stats().network_failures >= 1
            broker.start()
            col = Collector(broker.host, broker.port)
            await tg.start(col.run)
            live_sent: dict[int, float] = {}

            async def feed_live() -> None:
                k = 0
                while True:
                    for _ in range(10):
                        i = q.stats().next_id
                        q.offer(row(BACKLOG + k))
                        live_sent[i] = time.monotonic()
                        k += 1
                    await anyio.sleep(0.01)  # ~1,000 live readings/s

            tg.start_soon(feed_live)
            await col.wait_for(
                lambda: all(i in col.ids for i in backlog_ids), 60, "the whole backlog arrives"
            )
            tg.cancel_scope.cancel()
        position = {rid: n for n, rid in reversed(list(enumerate(col.order)))}
        last_backlog = max(position[i] for i in backlog_ids)
        live_arrived = [i for i in live_sent if i in position]
        assert live_arrived, "live readings arrived"
        first_live = min(position[i] for i in live_arrived)
        assert first_live < last_backlog, "live readings overtook the backlog"
        overtaking = sum(1 for i in live_arrived if position[i] < last_backlog)
        for doc in col.docs:
            ids = [r[0] for r in doc["rows"]]
            if ids[0] in backlog_ids:
                assert doc["hist"] is True, "backlog batches are marked hist"
        assert any(d["hist"] is False for d in col.docs)
        print(f"backlog={BACKLOG} live readings that overtook it={overtaking}")
    finally:
        broker.close()
