"""Config validation, ``edgerun bridge --check``, metrics exposition, status parsing, and
dead letters on a topic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from edgerun.bridge.cli import main
from edgerun.bridge.config import build_config, load_config
from edgerun.bridge.metrics import prometheus_text
from edgerun.bridge.registry import sink_types
from edgerun.bridge.service import build_bridge
from edgerun.bridge.sinks.graphite import GraphiteSink
from edgerun.bridge.sinks.influxdb import InfluxSink
from edgerun.bridge.status import StatusError, parse_status
from edgerun.config.base import ConfigError
from tests.bridge.helpers import bridge_config, publish, wait_for
from tests.bridge.servers import Influxd
from tests.support.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[mqtt]
url = "mqtt://127.0.0.1:1883"
share_group = "dc1"

[[sinks]]
type = "graphite"
host = "carbon.example"

[[sinks]]
type = "influxdb"
name = "tsdb"
api = "v2"
bucket = "iot"
token = { env = "EDGERUN_TEST_TOKEN" }
"""


def test_builtin_sinks_are_registered_through_the_entry_point() -> None:
    types = sink_types()
    assert types["graphite"] is GraphiteSink
    assert types["influxdb"] is InfluxSink


def test_good_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGERUN_TEST_TOKEN", "s3cret")
    f = tmp_path / "bridge.toml"
    f.write_text(GOOD)
    cfg = load_config(f)
    assert [(s.type, s.name) for s in cfg.sinks] == [("graphite", "graphite"), ("influxdb", "tsdb")]
    assert main(["-c", str(f), "--check"]) == 0


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"sinks": []}, "sinks: configure at least one"),
        ({"mqtt": {"url": "http://x"}, "sinks": [{"type": "graphite"}]}, "mqtt.url: expected"),
        ({"mqtt": {"share_group": "a/b"}, "sinks": [{"type": "graphite"}]}, "mqtt.share_group"),
        ({"mqtt": {"qos": 2}, "sinks": [{"type": "graphite"}]}, "mqtt.qos: unknown key"),
        ({"sinks": [{"name": "x"}]}, "sinks[0].type: required"),
        (
            {"sinks": [{"type": "graphite"}, {"type": "graphite"}]},
            "sinks[1].name: must be a unique string",
        ),
    ],
)
def test_bad_configs_name_the_key(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_config(raw)
    assert problem in str(exc.value)


def test_check_reports_sink_option_errors(tmp_path: Path) -> None:
    f = tmp_path / "bridge.toml"
    f.write_text('[[sinks]]\ntype = "influxdb"\nmax_points = "many"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "edgerun.bridge.cli", "-c", str(f), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 78
    assert "sinks[0].max_points" in proc.stderr


def test_status_parsing() -> None:
    assert parse_status(b'{"state": "online", "ts": 1790000000123}') == (True, 1790000000123)
    assert parse_status(b'{"state": "offline", "time": 1790000000.5}') == (False, 1790000000500)
    assert parse_status(b'{"state": "online", "time": "2026-11-26T03:00:00Z"}') == (
        True,
        1795662000000,
    )
    assert parse_status(b'{"state": "online"}') == (True, None)
    for bad in (b"nope", b"[]", b"{}", b'{"state": "sleepy"}'):
        with pytest.raises(StatusError):
            parse_status(bad)


def test_metrics_exposition() -> None:
    text = prometheus_text(
        {"readings_written": 42, "lag_seconds": 1.5, "sink_carbon_retries": 3}, ["carbon"]
    ).decode()
    assert "edgerun_bridge_readings_written_total 42.0" in text
    assert "edgerun_bridge_lag_seconds 1.5" in text
    assert 'edgerun_bridge_sink_retries_total{sink="carbon"} 3.0' in text


@pytest.mark.anyio
async def test_dead_letters_on_a_topic(broker: Mosquitto, influx: Influxd, tmp_path: Path) -> None:
    cfg = bridge_config(broker, tmp_path, influx=influx, dead_letters={"topic": "dead/edgerun"})
    bridge = build_bridge(cfg)
    task = asyncio.create_task(bridge.run())
    got: list[aiomqtt.Message] = []
    try:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as watcher:
            await watcher.subscribe("dead/#", qos=1)
            await asyncio.wait_for(bridge.connected.wait(), 10)
            await publish(broker, "gw-x", [b"\xc1\xc1"])
            await publish(broker, "gw-x", [b"not json"], kind="status")

            async def collect() -> None:
                async for m in watcher.messages:
                    got.append(m)
                    if len(got) == 2:
                        return

            await asyncio.wait_for(collect(), 10)
        reasons = {}
        for m in got:
            props = dict(m.properties.UserProperty)  # type: ignore[union-attr]
            reasons[props["source-topic"]] = (props["reason"], m.payload)
        assert reasons == {
            "edgerun/gw-x/data": ("malformed", b"\xc1\xc1"),
            "edgerun/gw-x/status": ("bad-status", b"not json"),
        }
        await wait_for(lambda: bridge.stats()["acks"] == 2, 10, "acks")
        assert (tmp_path / "bridge-1-dead.jsonl").read_text().count("\n") == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_fleet_changes_and_silence() -> None:
    from edgerun.bridge.status import Fleet

    f = Fleet(offline_after=0.2)
    on = f.status("g", b'{"state": "online", "ts": 1790000001000}')
    assert on is not None
    assert (on.up, on.changed_ms) == (True, 1_790_000_001_000)
    # The birth message after each reconnect is not a change.
    assert f.status("g", b'{"state": "online", "ts": 1790000005000}') is None
    # An older retained message is not one either.
    assert f.status("g", b'{"state": "offline", "ts": 1790000000500}') is None
    # The Last Will has no time: the receive time is used.
    off = f.status("g", b'{"state": "offline", "ts": null}', now_ms=1_790_000_009_000)
    assert off is not None
    assert (off.up, off.changed_ms) == (False, 1_790_000_009_000)
    back = f.heard("g", now_ms=1_790_000_009_500)  # a heartbeat or data: online again
    assert back is not None
    assert back.up
    assert f.expire() == []
    deadline = time.monotonic() + 5
    changes = f.expire(now_ms=1_790_000_012_000)
    while not changes and time.monotonic() < deadline:  # silence for offline_after
        time.sleep(0.05)
        changes = f.expire(now_ms=1_790_000_012_000)
    assert [(c.gateway, c.up, c.changed_ms) for c in changes] == [("g", False, 1_790_000_012_000)]
    assert f.online() == 0
