"""A synthetic stream through mosquitto and the bridge into real carbon and influxd."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from edgerun.bridge.service import build_bridge
from edgerun.bridge.whisper import metric_file, read_points
from tests.bridge.helpers import (
    bridge_config,
    graphite_points,
    influx_points,
    make_stream,
    points,
    publish,
    status_payload,
    wait_for,
)
from tests.bridge.servers import Carbon, Influxd
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("protocol", ["plaintext", "pickle"])
async def test_every_reading_lands_in_both_databases(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path, protocol: str
) -> None:
    cfg = bridge_config(broker, tmp_path, carbon=carbon, influx=influx, graphite_protocol=protocol)
    bridge = build_bridge(cfg)
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        live = make_stream("gw-a", 1000, per_batch=100)
        late = make_stream("gw.b c", 300, per_batch=60, hist=True)
        await publish(broker, "gw-a", live.payloads)
        await publish(broker, "gw.b c", late.payloads)
        for s in (live, late):
            await wait_for(lambda s=s: graphite_points(carbon, s) == s.expected, 30, "graphite")
            await wait_for(lambda s=s: influx_points(influx, s) == s.expected, 30, "influx")
        st = bridge.stats()
        assert st["readings_written"] == 1300
        assert st["duplicates"] == 0
        assert st["dead_letters"] == 0
        assert st["sink_carbon_readings_written"] == 1300
        assert st["sink_influx_readings_written"] == 1300
        # The historical flag: a separate Graphite path and an InfluxDB tag.
        backlog = metric_file(carbon.whisper, "edgerun_backlog.gw_b_c.mesh_room-0.co2")
        await wait_for(backlog.exists, 30, "backlog series")
        series = influx.query("edgerun", "SELECT count(value) FROM co2 GROUP BY hist")
        counts = {s["tags"]["hist"]: s["values"][0][1] for s in series}
        assert counts == {"false": 1000, "true": 300}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_gateway_status_series(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path
) -> None:
    cfg = bridge_config(broker, tmp_path, carbon=carbon, influx=influx)
    bridge = build_bridge(cfg)
    t0 = (int(time.time()) - 60) * 1000  # inside whisper's retention
    # Retained before the bridge starts: it must still see it.
    await publish(broker, "gw-1", [status_payload("online", t0)], kind="status", retain=True)
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        await publish(broker, "gw-2", [status_payload("offline", t0 + 5000)], kind="status")

        def influx_state() -> dict[str, list[int]]:
            out = {}
            for s in influx.query(
                "edgerun", "SELECT up, changed_ms FROM edgerun_gateway_status GROUP BY gateway"
            ):
                out[s["tags"]["gateway"]] = [s["values"][-1][1], s["values"][-1][2]]
            return out

        await wait_for(lambda: len(influx_state()) == 2, 20, "status series")
        q = "SELECT up FROM edgerun_gateway_status WHERE time = {}ms GROUP BY gateway"
        changes = {
            s["tags"]["gateway"]: s["values"][0][1]
            for t in (t0, t0 + 5000)
            for s in influx.query("edgerun", q.format(t))
        }
        assert changes == {"gw-1": 1, "gw-2": 0}
        last = influx_state()
        assert last["gw-1"] == [1, t0]
        assert last["gw-2"] == [0, t0 + 5000]
        up = metric_file(carbon.whisper, "edgerun_status.gw-1.up")
        await wait_for(lambda: bool(points(up)), 20, "graphite status point")
        # The change at its own time (plus the periodic re-write of the current state).
        assert (t0 // 1000, 1.0) in read_points(up)
        assert all(v == 1.0 for _, v in read_points(up))
        assert bridge.stats()["gateways_online"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_bad_payloads_become_dead_letters_and_the_stream_continues(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    cfg = bridge_config(broker, tmp_path, influx=influx, bridge={"max_payload_bytes": 20000})
    bridge = build_bridge(cfg)
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        good = make_stream("gw-d", 200, per_batch=50)
        v2 = json.dumps({"v": 2, "gw": "gw-d", "cols": [], "rows": [], "hist": False}).encode()
        bad = [b"\xc1garbage", v2, b"{not json", b"x" * 30000]
        payloads = [good.payloads[0], *bad, *good.payloads[1:]]
        await publish(broker, "gw-d", payloads)
        await wait_for(lambda: influx_points(influx, good) == good.expected, 30, "good rows")
        await wait_for(lambda: bridge.stats()["dead_letters"] == 4, 10, "dead letters")
        lines = [json.loads(x) for x in (tmp_path / "bridge-1-dead.jsonl").read_text().splitlines()]
        reasons = sorted(x["reason"] for x in lines)
        assert reasons == ["malformed", "malformed", "oversized", "unknown-version"]
        assert all(x["topic"] == "edgerun/gw-d/data" for x in lines)
        # Every message, good or dead-lettered, is acknowledged (after its writes).
        await wait_for(lambda: bridge.stats()["acks"] == len(payloads), 10, "acks")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
