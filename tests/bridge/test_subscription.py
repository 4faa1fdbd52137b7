"""Shared subscriptions: two replicas split the load; refused subscriptions and silence alarm."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edgerun.bridge.consumer import Bridge
from edgerun.bridge.service import build_bridge
from tests.bridge.helpers import (
    Stream,
    bridge_config,
    influx_points,
    make_stream,
    publish,
    status_payload,
    subset,
    wait_for,
)
from tests.bridge.servers import Influxd
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.anyio


async def test_two_replicas_split_the_messages(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    bridges = [
        build_bridge(bridge_config(broker, tmp_path, influx=influx, client_id=f"replica-{i}"))
        for i in (1, 2)
    ]
    tasks = [asyncio.create_task(b.run()) for b in bridges]
    try:
        for b in bridges:
            await asyncio.wait_for(b.connected.wait(), 10)
        streams = [make_stream(f"gw-{g}", 1000, per_batch=20) for g in range(4)]
        await asyncio.gather(*(publish(broker, s.gateway, s.payloads) for s in streams))
        total = sum(len(s.payloads) for s in streams)
        await wait_for(
            lambda: sum(b.stats()["acks"] for b in bridges) == total, 30, "all acknowledged"
        )
        for s in streams:
            assert influx_points(influx, s) == s.expected
        shares = [b.stats()["data_messages"] for b in bridges]
        assert sum(shares) == total
        assert min(shares) > total // 4, shares  # both replicas took a real share
        assert sum(b.stats()["readings_written"] for b in bridges) == 4000
        assert sum(b.stats()["duplicates"] for b in bridges) == 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_refused_subscription_raises_the_alarm(tmp_path: Path, influx: Influxd) -> None:
    # A broker that grants QoS 0 only: the subscription "works" but nothing is redelivered
    # after a crash, so the bridge must refuse to run on it and say so.
    with Mosquitto(tmp_path / "mqtt", extra_config="max_qos 0") as broker:
        bridge = build_bridge(bridge_config(broker, tmp_path, influx=influx))
        task = asyncio.create_task(bridge.run())
        try:
            await wait_for(lambda: bridge.stats()["alarm_suback"] == 1, 10, "suback alarm")
            ok, detail = bridge.ready()
            assert not ok
            assert "0x00" in detail["alarms"]["suback"]  # granted QoS 0
            assert bridge.stats()["subscribed"] == 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_silence_while_gateways_are_online_raises_the_alarm(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    cfg = bridge_config(broker, tmp_path, influx=influx, bridge={"silence_alarm": "0.5s"})
    bridge = build_bridge(cfg)
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        now_ms = int(time.time() * 1000)
        # Quiet while no gateway is online: no alarm.
        t_quiet = time.monotonic()
        await wait_for(lambda: time.monotonic() - t_quiet > 1.0, 5, "a quiet second")
        assert bridge.stats()["alarm_silence"] == 0
        await publish(broker, "gw-s", [status_payload("online", now_ms)], kind="status")
        await wait_for(lambda: bridge.stats()["alarm_silence"] == 1, 10, "silence alarm")
        assert not bridge.ready()[0]
        stream = make_stream("gw-s", 10, per_batch=10)
        await publish(broker, "gw-s", stream.payloads)
        await wait_for(lambda: bridge.stats()["alarm_silence"] == 0, 10, "alarm cleared")
        assert bridge.ready()[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_retiring_a_replica_drains_its_share(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    """An offline group member keeps getting its share; retiring it hands that share over."""

    def replica(name: str) -> Bridge:
        return build_bridge(bridge_config(broker, tmp_path, influx=influx, client_id=name))

    a, b = replica("replica-a"), replica("replica-b")
    ta, tb = asyncio.create_task(a.run()), asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(a.connected.wait(), 10)
        await asyncio.wait_for(b.connected.wait(), 10)
        ta.cancel()  # replica-a goes away; its session stays in the broker
        await asyncio.gather(ta, return_exceptions=True)
        first = make_stream("gw-r", 2000, per_batch=50)
        await publish(broker, "gw-r", first.payloads)
        await wait_for(lambda: b.stats()["acks"] > 0, 10, "b works")
        t_quiet = time.monotonic()
        await wait_for(lambda: time.monotonic() - t_quiet > 1.0, 5, "b done with its share")
        share_b = b.stats()["data_messages"]
        assert 0 < share_b < len(first.payloads)  # the rest waits in replica-a's session
        drained = await asyncio.wait_for(replica("replica-a").retire(idle=1.0), 30)
        assert drained == len(first.payloads) - share_b
        assert influx_points(influx, first) == first.expected
        # From now on everything goes to replica-b.
        second = make_stream("gw-r", 500, per_batch=50, first_id=10_000, t0_ms=first_t0(first))
        await publish(broker, "gw-r", second.payloads)
        await wait_for(
            lambda: b.stats()["data_messages"] == share_b + len(second.payloads), 10, "all to b"
        )
        await wait_for(
            lambda: subset(influx_points(influx, second), second) == second.expected, 10, "b wrote"
        )
    finally:
        tb.cancel()
        await asyncio.gather(tb, return_exceptions=True)


def first_t0(stream: Stream) -> int:
    """A start time after the stream's last reading (so the series do not overlap)."""
    return max(ts for _, ts in stream.expected) + 1000
