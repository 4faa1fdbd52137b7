"""The sinks on their own: escaping, templates, InfluxDB answers, refused batches."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from edgerun.api import hookimpl
from edgerun.bridge.batch import Batch
from edgerun.bridge.config import build_config
from edgerun.bridge.consumer import Bridge
from edgerun.bridge.registry import sink_class
from edgerun.bridge.service import build_bridge, build_sinks
from edgerun.bridge.sinks.base import (
    GatewayStatus,
    Sink,
    SinkConfig,
    SinkRejected,
    SinkUnavailable,
)
from edgerun.bridge.sinks.graphite import GraphiteConfig, GraphiteSink, escape
from edgerun.bridge.sinks.influxdb import InfluxConfig, InfluxSink, esc_tag, field_value
from edgerun.bridge.whisper import find_metrics, read_points
from edgerun.config.base import ConfigError, Secret
from tests.bridge.helpers import bridge_config, make_stream, points, publish, wait_for
from tests.bridge.servers import Carbon, Influxd
from tests.support.mosquitto import Mosquitto

TS = 1_790_000_000_000
#: Inside whisper's 6 h retention (whisper drops older points).
RECENT = (int(time.time()) - 600) * 1000


def test_graphite_escaping() -> None:
    assert escape("mesh/node-7") == "mesh_node-7"
    assert escape("AA:BB:CC") == "AA_BB_CC"
    assert escape("a.b c*{x}") == "a_b_c__x_"
    assert escape("") == "_"


def test_influx_escaping() -> None:
    assert esc_tag("a b,c=d\\") == "a\\ b\\,c\\=d\\\\"
    assert esc_tag("line\nbreak") == "line_break"
    assert field_value('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert field_value(True) == "true"
    assert field_value(3) == "3.0"


def test_unknown_template_placeholder_is_a_config_error(tmp_path: Path) -> None:
    raw = {
        "mqtt": {"url": "mqtt://127.0.0.1:1"},
        "sinks": [{"type": "graphite", "template": "x.{room}"}, {"type": "nope"}],
    }
    with pytest.raises(ConfigError) as exc:
        build_sinks(build_config(raw))
    text = str(exc.value)
    assert "sinks[0]: unknown placeholder {room}" in text
    assert "sinks[1].type: unknown sink 'nope' (installed:" in text


@pytest.mark.anyio
async def test_graphite_templates_and_values(carbon: Carbon) -> None:
    cfg = GraphiteConfig(
        port=carbon.line_port,
        template="site.{tenant}.{gateway}.{quantity}.{device}",
        historical_template="",
    )
    sink = GraphiteSink("c", cfg)
    rows = [
        (1, RECENT, "mesh/n.1", "co2", 400.0, "ppm", True),
        (2, RECENT, "mesh/n.1", "occupied", True, "", True),
        (3, RECENT, "mesh/n.1", "state", "open", "", True),  # strings cannot go to whisper
    ]
    await sink.write([Batch("gw 1", True, rows, "acme")])
    await sink.close()
    metrics: dict[str, Path] = {}

    def found() -> bool:
        metrics.update(find_metrics(carbon.whisper))
        return len(metrics) == 2 and all(points(p) for p in metrics.values())

    await wait_for(found, 20, "whisper files")
    assert sorted(metrics) == ["site.acme.gw_1.co2.mesh_n_1", "site.acme.gw_1.occupied.mesh_n_1"]
    assert read_points(metrics["site.acme.gw_1.co2.mesh_n_1"]) == [(RECENT // 1000, 400.0)]
    assert read_points(metrics["site.acme.gw_1.occupied.mesh_n_1"]) == [(RECENT // 1000, 1.0)]
    assert sink.stats()["skipped_non_numeric"] == 1


@pytest.mark.anyio
async def test_graphite_down_is_unavailable() -> None:
    from tests.support.mosquitto import free_port

    sink = GraphiteSink("c", GraphiteConfig(port=free_port()))
    with pytest.raises(SinkUnavailable):
        await sink.write([Batch("g", False, [(1, TS, "d", "co2", 1.0, "", True)])])


@pytest.mark.anyio
async def test_influx_tags_fields_and_refusals(influx: Influxd) -> None:
    sink = InfluxSink("i", InfluxConfig(url=influx.url))
    rows = [
        (1, TS, "room 1,a=b", "co2", 400, "ppm", True),
        (2, TS, "door", "state", 'open "x"', "", True),
        (3, TS, "door", "occupied", False, "", True),
    ]
    assert await sink.write([Batch("gw=1", False, rows, "acme")]) == 3
    got = influx.query("edgerun", "SELECT * FROM co2")[0]
    record = dict(zip(got["columns"], got["values"][0], strict=True))
    assert record == {
        "time": TS,
        "device": "room 1,a=b",
        "gateway": "gw=1",
        "hist": "false",
        "tenant": "acme",
        "unit": "ppm",
        "value": 400.0,
    }
    assert influx.query("edgerun", "SELECT value FROM state")[0]["values"] == [[TS, 'open "x"']]
    # A float into a string field: InfluxDB refuses the data itself.
    with pytest.raises(SinkRejected, match="conflict"):
        await sink.write([Batch("gw=1", False, [(4, TS + 1, "door", "state", 1.5, "", True)])])
    # A missing database is a refusal too, not an outage.
    other = InfluxSink("j", InfluxConfig(url=influx.url, database="missing"))
    with pytest.raises(SinkRejected):
        await other.write([Batch("g", False, rows[:1])])
    await sink.close()
    await other.close()


@pytest.mark.anyio
async def test_refused_batch_is_dead_lettered_and_the_others_written(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    bridge = build_bridge(
        bridge_config(broker, tmp_path, influx=influx, bridge={"flush_interval": "500ms"})
    )
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        from edgerun.payload import Encoder

        enc = Encoder("gw-r")
        as_text = enc.encode_rows([[1, TS, "d", "state", "open", "", True, None]])
        as_number = enc.encode_rows([[2, TS + 1000, "d", "state", 2.5, "", True, None]])
        good = make_stream("gw-r", 20, first_id=100)
        # Published together so they land in one group and one request.
        await publish(broker, "gw-r", [as_text, as_number, *good.payloads])
        await wait_for(lambda: bridge.stats()["acks"] == 3, 20, "acks")
        st = bridge.stats()
        assert st["dead_letters_rejected"] == 1
        assert st["sink_influx_rejected_batches"] == 1
        assert influx.query("edgerun", "SELECT count(value) FROM co2")[0]["values"][0][1] == 20
        assert influx.query("edgerun", "SELECT value FROM state")[0]["values"] == [[TS, "open"]]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _Capture(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, type[_Capture]]]:
    handler = type("H", (_Capture,), {"requests": [], "status": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.anyio
async def test_influx_v2_request_shape(capture: tuple[str, type[_Capture]]) -> None:
    """The 2.x endpoint (no influxd 2 on Debian 12: checked against a loopback HTTP server)."""
    url, handler = capture
    sink = InfluxSink(
        "v2",
        InfluxConfig(url=url, api="v2", org="ops", bucket="iot", token=Secret("t0k"), max_points=2),
    )
    rows = [(i, TS + i, "d", "co2", 1.0 * i, "ppm", True) for i in range(3)]
    assert await sink.write([Batch("g", True, rows)]) == 3
    assert len(handler.requests) == 2  # max_points per request
    req = handler.requests[0]
    assert req["path"] == "/api/v2/write?org=ops&bucket=iot&precision=ms"
    assert req["headers"]["Authorization"] == "Token t0k"
    assert req["body"].decode().splitlines() == [
        f"co2,device=d,gateway=g,hist=true,unit=ppm value=0.0 {TS}",
        f"co2,device=d,gateway=g,hist=true,unit=ppm value=1.0 {TS + 1}",
    ]
    handler.status = 503
    with pytest.raises(SinkUnavailable):
        await sink.write([Batch("g", True, rows[:1])])
    handler.status = 429
    with pytest.raises(SinkUnavailable):
        await sink.write([Batch("g", True, rows[:1])])
    await sink.close()


class _ListSink(Sink):
    """A sink of the test's own: keeps rows in a list, and has a bug on device "boom"."""

    def __init__(self, name: str, config: Any) -> None:
        super().__init__(name, config)
        self.rows: list[tuple[Any, ...]] = []

    async def write(self, batches: Sequence[Batch]) -> int:
        rows = [r for b in batches for r in b.rows]
        if any(r[2] == "boom" for r in rows):
            raise TypeError("a bug in the sink")
        self.rows.extend(rows)
        return len(rows)

    async def write_status(self, states: Sequence[GatewayStatus]) -> None:
        pass


_ListSink.config_type = SinkConfig


@hookimpl
def edgerun_register_sinks(register: Any) -> None:
    register("list", _ListSink)


def test_third_party_sink_through_the_plugin_loader() -> None:
    import sys

    from edgerun import plugins

    try:
        plugins.load_plugins(extra_modules=[sys.modules[__name__]])
        assert sink_class("list") is _ListSink
        assert sink_class("graphite") is GraphiteSink  # built-ins still there
    finally:
        plugins.load_plugins()


@pytest.mark.anyio
async def test_a_buggy_sink_sends_data_to_dead_letters_not_down(
    broker: Mosquitto, influx: Influxd, tmp_path: Path
) -> None:
    from edgerun.bridge.deadletter import DeadLetters
    from edgerun.bridge.dedupe import DedupeStore
    from edgerun.payload import Encoder

    cfg = bridge_config(broker, tmp_path, influx=influx)
    buggy = _ListSink("buggy", SinkConfig())
    influx_sink = InfluxSink("influx", InfluxConfig(url=influx.url))
    bridge = Bridge(cfg, [buggy, influx_sink], DedupeStore(None), DeadLetters(tmp_path / "d"))
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        enc = Encoder("gw-b")
        bad = enc.encode_rows([[1, TS, "boom", "co2", 1.0, "ppm", True, None]])
        good = make_stream("gw-b", 30, per_batch=10, first_id=10)
        await publish(broker, "gw-b", [bad, *good.payloads])
        await wait_for(lambda: bridge.stats()["acks"] == 4, 20, "acks")
        st = bridge.stats()
        assert st["dead_letters_rejected"] == 1
        assert st["sink_buggy_errors"] >= 4  # retried, then refused
        assert len(buggy.rows) == 30
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
