"""The uplink against a real mosquitto: delivery, status, heartbeat, subscriptions."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector, gateway, memory_queue, row

pytestmark = pytest.mark.anyio


def uplink_config(url: str, **kw: Any) -> UplinkConfig:
    return convert({"url": url, "backoff_base": 0.05, "backoff_cap": 0.5, **kw}, UplinkConfig)


async def test_readings_arrive_once_with_status_and_heartbeat(broker: Mosquitto) -> None:
    q = await memory_queue()
    up = Uplink(
        uplink_config(broker.url, heartbeat_interval=0.2),
        gateway(),
        q,
        lambda: {"drivers": {"syn": "running"}},
    )
    col = Collector(broker.host, broker.port)
    n = 5000
    async with anyio.create_task_group() as tg:
        await tg.start(col.run)
        await tg.start(up.run)
        for i in range(n):
            if not q.offer(row(i)):
                await q.wait_writable()
        await col.wait_for(lambda: len(col.ids) == n, 10, "all readings arrive")
        await col.wait_for(lambda: len(col.heartbeats) >= 1, 5, "a heartbeat")
        status = col.status["edgerun/gw-test/status"]
        assert status["state"] == "online"
        assert status["drivers"] == {"syn": "running"}
        hb = col.heartbeats[0]
        assert hb["gw"] == "gw-test"
        assert "queue_depth" in hb
        assert "oldest_age_s" in hb
        tg.cancel_scope.cancel()
    assert col.duplicates == 0
    assert col.order == sorted(col.order), "first delivery keeps id order"
    assert all(doc["gw"] == "gw-test" and doc["hist"] is False for doc in col.docs)
    assert all(len(doc["rows"]) <= 500 for doc in col.docs)
    st = up.stats()
    assert st.readings_published == n
    assert st.connects == 1
    assert q.stats().acked == n


async def test_clean_shutdown_publishes_offline(broker: Mosquitto) -> None:
    q = await memory_queue()
    up = Uplink(uplink_config(broker.url), gateway(), q, dict)
    col = Collector(broker.host, broker.port)
    async with anyio.create_task_group() as outer:
        await outer.start(col.run)
        async with anyio.create_task_group() as tg:
            await tg.start(up.run)
            await col.wait_for(
                lambda: col.status.get("edgerun/gw-test/status", {}).get("state") == "online", 5
            )
            tg.cancel_scope.cancel()
        await col.wait_for(
            lambda: col.status["edgerun/gw-test/status"]["state"] == "offline", 5, "offline"
        )
        assert col.status["edgerun/gw-test/status"]["reason"] == "shutdown"
        outer.cancel_scope.cancel()
