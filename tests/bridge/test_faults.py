"""Faults: a database outage mid-stream, a SIGKILLed bridge, duplicates from gateways."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from edgerun.bridge.service import build_bridge
from tests.bridge.helpers import (
    bridge_config,
    graphite_points,
    influx_points,
    make_stream,
    publish,
    wait_for,
)
from tests.bridge.servers import Carbon, Influxd
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


async def _outage(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path, seconds: float
) -> None:
    cfg = bridge_config(broker, tmp_path, carbon=carbon, influx=influx)
    bridge = build_bridge(cfg)
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        stream = make_stream("gw-out", 3000, per_batch=50)
        first, rest = stream.payloads[:20], stream.payloads[20:]
        await publish(broker, "gw-out", first)
        await wait_for(lambda: bridge.stats()["readings_written"] == 1000, 20, "first part")
        carbon.stop()
        influx.stop()
        t_down = time.monotonic()
        # Keep publishing while both databases are down; the broker holds the messages.
        for i in range(0, len(rest), 5):
            await publish(broker, "gw-out", rest[i : i + 5])
        await wait_for(
            lambda: (
                bridge.stats()["sink_influx_retries"] > 0
                and bridge.stats()["sink_carbon_retries"] > 0
            ),
            seconds + 20,
            "retries",
        )
        assert bridge.stats()["readings_written"] == 1000  # nothing acknowledged meanwhile
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - t_down)))
        carbon.start()
        influx.start()
        await wait_for(lambda: influx_points(influx, stream) == stream.expected, 60, "influx")
        await wait_for(lambda: graphite_points(carbon, stream) == stream.expected, 60, "carbon")
        st = bridge.stats()
        assert st["readings_written"] == 3000
        assert st["acks"] == len(stream.payloads)
        count = influx.query("edgerun", "SELECT count(value) FROM co2")[0]["values"][0][1]
        assert count == 3000
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_database_outage_loses_nothing(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path
) -> None:
    await _outage(broker, carbon, influx, tmp_path, seconds=3.0)


@pytest.mark.slow
async def test_database_outage_30s_loses_nothing(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path
) -> None:
    await _outage(broker, carbon, influx, tmp_path, seconds=30.0)


async def test_duplicates_are_dropped_across_a_restart(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    stream = make_stream("gw-dup", 500, per_batch=100)
    for round_ in (1, 2):  # the second bridge reads the first one's dedupe file
        bridge = build_bridge(bridge_config(broker, tmp_path, influx=influx))
        task = asyncio.create_task(bridge.run())
        try:
            await asyncio.wait_for(bridge.connected.wait(), 10)
            # A gateway that lost PUBACKs sends batches again.
            payloads = stream.payloads + stream.payloads[:2] if round_ == 1 else stream.payloads
            await publish(broker, "gw-dup", payloads)
            await wait_for(lambda b=bridge, p=payloads: b.stats()["acks"] == len(p), 20, "acks")
            st = bridge.stats()
            assert st["duplicates"] == (200 if round_ == 1 else 500)
            assert st["readings_written"] == (500 if round_ == 1 else 0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert influx_points(influx, stream) == stream.expected
    count = influx.query("edgerun", "SELECT count(value) FROM co2")[0]["values"][0][1]
    assert count == 500


def _write_toml(path: Path, broker: Mosquitto, carbon: Carbon, influx: Influxd, http: int) -> None:
    path.write_text(
        f"""
[mqtt]
url = "{broker.url}"
client_id = "bridge-k"

[bridge]
retry_initial = "0.1s"
retry_max = "1s"

[dedupe]
path = "dedupe.sqlite"

[dead_letters]
file = "dead.jsonl"

[http]
listen = "127.0.0.1:{http}"

[[sinks]]
type = "graphite"
name = "carbon"
port = {carbon.line_port}

[[sinks]]
type = "influxdb"
name = "influx"
url = "{influx.url}"
"""
    )


def _start(config: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "edgerun.bridge.cli", "-c", str(config), "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_sigkilled_bridge_loses_nothing(
    broker: Mosquitto, carbon: Carbon, influx: Influxd, tmp_path: Path
) -> None:
    config = tmp_path / "bridge.toml"
    http = free_port()
    _write_toml(config, broker, carbon, influx, http)
    stream = make_stream("gw-kill", 4000, per_batch=50)
    proc = _start(config)
    try:
        await wait_for(lambda: _metric(http, "edgerun_bridge_subscribed") == 1, 30, "bridge up")
        publisher = asyncio.create_task(publish(broker, "gw-kill", stream.payloads))
        await wait_for(
            lambda: (_metric(http, "edgerun_bridge_readings_written_total") or 0) >= 500,
            30,
            "some written",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        await publisher
        proc = _start(config)
        # A gateway resends its first batches (lost PUBACKs): reported as duplicates.
        await wait_for(lambda: _metric(http, "edgerun_bridge_subscribed") == 1, 30, "restarted")
        await publish(broker, "gw-kill", stream.payloads[:3])
        await wait_for(lambda: influx_points(influx, stream) == stream.expected, 60, "influx")
        await wait_for(lambda: graphite_points(carbon, stream) == stream.expected, 60, "carbon")
        await wait_for(
            lambda: (_metric(http, "edgerun_bridge_duplicates_total") or 0) >= 150, 20, "dups"
        )
        count = influx.query("edgerun", "SELECT count(value) FROM co2")[0]["values"][0][1]
        assert count == 4000
    finally:
        proc.kill()
        proc.wait(10)
