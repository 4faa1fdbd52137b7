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


async def test_a_failing_queue_does_not_take_the_uplink_down(broker: Mosquitto) -> None:
    q = await memory_queue()
    real_lease = q.lease
    failures = 0

    async def flaky_lease(*args: Any) -> Any:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise RuntimeError("storage hiccup")
        return await real_lease(*args)

    q.lease = flaky_lease  # type: ignore[method-assign]
    up = Uplink(uplink_config(broker.url), gateway(), q, dict)
    col = Collector(broker.host, broker.port)
    async with anyio.create_task_group() as tg:
        await tg.start(col.run)
        await tg.start(up.run)
        for i in range(300):
            q.offer(row(i))
        await col.wait_for(lambda: len(col.ids) == 300, 10, "delivered after the hiccups")
        tg.cancel_scope.cancel()
    st = up.stats()
    assert failures == 2
    assert st.connects >= 3
    assert "storage hiccup" in st.last_error


async def test_subscriptions_are_restored_after_every_connect(tmp_path: Any) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        q = await memory_queue()
        up = Uplink(uplink_config(broker.url), gateway(), q, dict)
        got: list[bytes] = []
        arrived = anyio.Event()

        async def handler(message: Any) -> None:
            got.append(message.payload)
            arrived.set()

        up.subscribe("edgerun/gw-test/cmd/#", handler)
        async with anyio.create_task_group() as tg:
            await tg.start(up.run)
            for round_ in range(2):
                with anyio.fail_after(10):
                    while up.stats().connects < round_ + 1 or not up.stats().connected:
                        await anyio.sleep(0.02)  # polling the uplink's state with a deadline
                # The subscription is in place once our own publish comes back to us.
                with anyio.fail_after(10):
                    while not arrived.is_set():
                        await up.publish(f"edgerun/gw-test/cmd/r{round_}", b"ping", qos=1)
                        with anyio.move_on_after(0.2):
                            await arrived.wait()
                arrived = anyio.Event()
                if round_ == 0:
                    broker.restart()
            tg.cancel_scope.cancel()
        assert got[0] == b"ping"
        assert len(got) >= 2
        assert up.stats().reconnects >= 1
    finally:
        broker.close()


async def test_publish_for_command_results_carries_mqtt5_properties(broker: Mosquitto) -> None:
    import aiomqtt

    from edgerun.uplink.mqtt import make_properties

    q = await memory_queue()
    up = Uplink(uplink_config(broker.url), gateway(), q, dict)
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="results-sub"
    ) as sub:
        await sub.subscribe("edgerun/gw-test/results/#", qos=1)
        async with anyio.create_task_group() as tg:
            await tg.start(up.run)  # publish() below waits for the connection by itself
            props = make_properties(CorrelationData=b"req-42", ContentType="application/json")
            with anyio.fail_after(10):
                await up.publish("edgerun/gw-test/results/r1", b'{"ok":true}', 1, False, props)
                message = await anext(aiter(sub.messages))
            tg.cancel_scope.cancel()
    assert message.payload == b'{"ok":true}'
    assert message.properties is not None
    assert message.properties.CorrelationData == b"req-42"
    assert message.properties.ContentType == "application/json"


async def test_batches_fit_the_brokers_maximum_packet_size(tmp_path: Any) -> None:
    with Mosquitto(tmp_path, extra_config="max_packet_size 4096") as broker:
        q = await memory_queue(chunk_readings=500)
        up = Uplink(uplink_config(broker.url), gateway(), q, dict)
        col = Collector(broker.host, broker.port)
        n = 2000
        async with anyio.create_task_group() as tg:
            await tg.start(col.run)
            await tg.start(up.run)
            for i in range(n):
                q.offer(row(i))
            await col.wait_for(lambda: len(col.ids) == n, 15, "every reading in small parts")
            tg.cancel_scope.cancel()
        assert max(len(raw) for raw in col.raw) <= 4096
        assert col.duplicates == 0
        assert col.order == sorted(col.order)
        assert up.stats().batches_split >= 4
