"""Synthetic gateway streams, publishing, and reading back what the databases hold."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import anyio

from edgerun.bridge.config import BridgeConfig, build_config
from edgerun.bridge.sinks.graphite import escape
from edgerun.bridge.whisper import metric_file, read_points
from edgerun.payload import Encoder
from tests.bridge.servers import Carbon, Influxd
from tests.support.mosquitto import Mosquitto

PREFIX = "edgerun"


@dataclass
class Stream:
    """Batches of one gateway and the points they must produce."""

    gateway: str
    payloads: list[bytes] = field(default_factory=list)
    #: (device, ts_ms) -> value
    expected: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def readings(self) -> int:
        return len(self.expected)


def make_stream(
    gateway: str,
    n: int,
    per_batch: int = 50,
    devices: int = 5,
    first_id: int = 1,
    t0_ms: int | None = None,
    hist: bool = False,
    encoder: Encoder | None = None,
) -> Stream:
    """``n`` co2 readings; per device one reading per second so whisper keeps each one."""
    if t0_ms is None:
        t0_ms = (int(time.time()) - 3600) * 1000  # inside the 6 h retention
    enc = encoder or Encoder(gateway)
    s = Stream(gateway)
    rows: list[list[Any]] = []
    for i in range(n):
        dev = f"mesh/room-{i % devices}"
        ts = t0_ms + (i // devices) * 1000
        value = 400.0 + (i * 7 % 1000) / 4
        rows.append([first_id + i, ts, dev, "co2", value, "ppm", True, None])
        s.expected[(dev, ts)] = value
        if len(rows) == per_batch:
            s.payloads.append(enc.encode_rows(rows, hist))
            rows = []
    if rows:
        s.payloads.append(enc.encode_rows(rows, hist))
    return s


def bridge_config(
    broker: Mosquitto,
    tmp: Path,
    *,
    carbon: Carbon | None = None,
    influx: Influxd | None = None,
    client_id: str = "bridge-1",
    graphite_protocol: str = "plaintext",
    **sections: dict[str, Any],
) -> BridgeConfig:
    sinks: list[dict[str, Any]] = []
    if carbon is not None:
        port = carbon.line_port if graphite_protocol == "plaintext" else carbon.pickle_port
        sinks.append(
            {"type": "graphite", "name": "carbon", "port": port, "protocol": graphite_protocol}
        )
    if influx is not None:
        sinks.append({"type": "influxdb", "name": "influx", "url": influx.url})
    raw: dict[str, Any] = {
        "mqtt": {"url": broker.url, "client_id": client_id, "topic_prefix": PREFIX},
        "bridge": {"retry_initial": "0.1s", "retry_max": "1s"},
        "dedupe": {"path": str(tmp / f"{client_id}-dedupe.sqlite")},
        "dead_letters": {"file": str(tmp / f"{client_id}-dead.jsonl")},
        "http": {"enabled": False},
        "sinks": sinks,
    }
    for key, table in sections.items():
        raw.setdefault(key, {}).update(table)
    return build_config(raw, str(tmp / "bridge.toml"))


async def publish(
    broker: Mosquitto,
    gateway: str,
    payloads: Iterable[bytes],
    kind: str = "data",
    retain: bool = False,
) -> None:
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"pub-{gateway}-{time.monotonic_ns()}",
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as c:
        for p in payloads:
            await c.publish(f"{PREFIX}/{gateway}/{kind}", p, qos=1, retain=retain)


def status_payload(state: str, ts_ms: int) -> bytes:
    return json.dumps({"state": state, "ts": ts_ms}).encode()


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    """Poll ``predicate`` (every 50 ms) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await anyio.sleep(0.05)


# ------------------------------------------------------------------ read back


def points(path: Path) -> list[tuple[int, float]]:
    """Whisper points, or none while carbon has not created (or finished creating) the file."""
    try:
        return read_points(path)
    except (OSError, ValueError):
        return []


def graphite_points(carbon: Carbon, stream: Stream) -> dict[tuple[str, int], float]:
    """What whisper holds for the stream's series, keyed like ``Stream.expected``."""
    out: dict[tuple[str, int], float] = {}
    for dev in {d for d, _ in stream.expected}:
        path = metric_file(carbon.whisper, f"edgerun.{escape(stream.gateway)}.{escape(dev)}.co2")
        for ts, v in points(path):
            out[(dev, ts * 1000)] = v
    return out


def influx_points(
    influx: Influxd, stream: Stream, db: str = "edgerun"
) -> dict[tuple[str, int], float]:
    q = f"SELECT value, device FROM co2 WHERE gateway = '{stream.gateway}'"
    out: dict[tuple[str, int], float] = {}
    for series in influx.query(db, q):
        cols = series["columns"]
        ti, vi, di = cols.index("time"), cols.index("value"), cols.index("device")
        for row in series["values"]:
            out[(row[di], row[ti])] = row[vi]
    return out


def subset(got: dict[tuple[str, int], float], stream: Stream) -> dict[tuple[str, int], float]:
    return {k: v for k, v in got.items() if k in stream.expected}
