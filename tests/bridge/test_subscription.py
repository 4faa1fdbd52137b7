"""Shared subscriptions: two replicas split the load; refused subscriptions and silence alarm."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edgerun.bridge.service import build_bridge
from tests.bridge.helpers import (
    bridge_config,
    influx_points,
    make_stream,
    publish,
    status_payload,
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
