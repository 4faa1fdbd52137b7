"""Graphite sink: carbon's plaintext or pickle protocol over one TCP connection.

Metric paths come from templates with the placeholders ``{gateway}``, ``{device}``,
``{quantity}``, ``{unit}`` and ``{tenant}``. Each substituted value is escaped: every
character other than ``A-Z a-z 0-9 _ -`` becomes ``_`` (a ``.`` would add a path level, a
space would end the metric name, ``/`` would become a directory, and ``*?[]{}()`` are
glob and function syntax in graphite-web). Reading timestamps are sent as they are
(seconds with the milliseconds as decimals); whisper keeps one value per retention step,
and a second write of the same point overwrites it, which makes writes idempotent.

Historical (backlog) readings go to the main path like live ones, so a series has no
holes after an outage, and are *also* written under ``historical_template`` (default
``edgerun_backlog.<gateway>.<device>.<quantity>``), so a dashboard can overlay which part
arrived late. ``historical_template = ""`` switches the copy off. Strings cannot be stored
in whisper: they are skipped and counted (``skipped_non_numeric``); booleans become 1/0.

Carbon's protocols have no acknowledgement. The sink therefore keeps what it sent in the
last ``replay_seconds`` (2 s: carbon reads its socket within milliseconds when healthy, and
a connection carbon closed shows as EOF or a reset on the next write) up to
``replay_max_bytes`` (16 MiB, about 2 s at 130k readings/s; it bounds the bridge's memory)
and sends it again after any reconnect, so data written into a connection that carbon was
closing is not lost; the overwrite semantics make the repeat harmless. The pickle protocol
is framed in messages of at most ``pickle_max_points`` points (carbon refuses a frame over
its ``PICKLE_RECEIVER_MAX_LENGTH``, 1 MiB by default).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
import struct
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from edgerun.bridge.batch import DEV, TS, UNIT, VAL, Batch, Q
from edgerun.bridge.sinks.base import (
    GatewayStatus,
    Sink,
    SinkConfig,
    SinkUnavailable,
)
from edgerun.config.base import ByteSize, Duration

log = logging.getLogger("edgerun.bridge.graphite")

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_FIELDS = ("gateway", "device", "quantity", "unit", "tenant")


def escape(part: str) -> str:
    """Make one path component safe for carbon and graphite-web."""
    return _UNSAFE.sub("_", part) or "_"


class GraphiteConfig(SinkConfig):
    """``[[sinks]] type = "graphite"``."""

    host: str = "127.0.0.1"
    port: int = 2003
    protocol: Literal["plaintext", "pickle"] = "plaintext"
    template: str = "edgerun.{gateway}.{device}.{quantity}"
    historical_template: str = "edgerun_backlog.{gateway}.{device}.{quantity}"
    status_template: str = "edgerun_status.{gateway}.up"
    connect_timeout: Duration = Duration(5.0)
    #: A write that cannot be handed to the kernel in this time counts as an outage.
    write_timeout: Duration = Duration(30.0)
    replay_seconds: Duration = Duration(2.0)
    replay_max_bytes: ByteSize = ByteSize(16 * 1024 * 1024)
    pickle_max_points: int = 5000


def _check_template(t: str) -> None:
    for name in re.findall(r"{([^{}]*)}", t):
        if name not in _FIELDS:
            raise ValueError(f"unknown placeholder {{{name}}} in template {t!r}")


class GraphiteSink(Sink):
    """Writes batches as carbon datapoints."""

    config_type = GraphiteConfig

    def __init__(self, name: str, config: GraphiteConfig) -> None:
        super().__init__(name, config)
        self.config: GraphiteConfig = config
        for t in (config.template, config.historical_template, config.status_template):
            _check_template(t)
        self._paths: dict[tuple[str, str, str, str, str], tuple[str, str | None]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._recent: deque[tuple[float, bytes]] = deque()
        self._recent_bytes = 0
        self.points = 0
        self.skipped_non_numeric = 0
        self.connects = 0
        self.replayed_bytes = 0

    # ----------------------------------------------------------------- formatting

    def _path(self, gw: str, dev: str, q: str, unit: str, tenant: str) -> tuple[str, str | None]:
        key = (gw, dev, q, unit, tenant)
        hit = self._paths.get(key)
        if hit is None:
            values = {
                "gateway": escape(gw),
                "device": escape(dev),
                "quantity": escape(q),
                "unit": escape(unit),
                "tenant": escape(tenant),
            }
            main = self.config.template.format(**values)
            hist = self.config.historical_template.format(**values) or None
            if len(self._paths) > 200_000:  # bound the cache, not the work
                self._paths.clear()
            hit = self._paths[key] = (main, hist)
        return hit

    def _datapoints(self, batches: Sequence[Batch]) -> list[tuple[str, float, float]]:
        out: list[tuple[str, float, float]] = []
        append = out.append
        path = self._path
        for b in batches:
            gw, tenant, hist = b.gateway, b.tenant or "", b.hist
            for r in b.rows:
                v = r[VAL]
                if isinstance(v, str):
                    self.skipped_non_numeric += 1
                    continue
                main, hpath = path(gw, r[DEV], r[Q], r[UNIT], tenant)
                ts = r[TS] / 1000
                fv = float(v)
                append((main, fv, ts))
                if hist and hpath is not None:
                    append((hpath, fv, ts))
        return out

    def _encode(self, points: list[tuple[str, float, float]]) -> bytes:
        if self.config.protocol == "plaintext":
            return "".join([f"{p} {v!r} {t!r}\n" for p, v, t in points]).encode()
        frames = []
        step = max(1, self.config.pickle_max_points)
        for i in range(0, len(points), step):
            body = pickle.dumps([(p, (t, v)) for p, v, t in points[i : i + step]], protocol=2)
            frames.append(struct.pack("!L", len(body)) + body)
        return b"".join(frames)

    # ----------------------------------------------------------------- connection

    async def _connect(self) -> None:
        cfg = self.config
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(cfg.host, cfg.port), cfg.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise SinkUnavailable(f"carbon {cfg.host}:{cfg.port}: {exc or 'timeout'}") from None
        self.connects += 1
        if self._recent:
            data = b"".join(chunk for _, chunk in self._recent)
            self.replayed_bytes += len(data)
            await self._send_raw(data)

    async def _send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self.config.write_timeout)
        except (OSError, TimeoutError) as exc:
            self._drop()
            raise SinkUnavailable(f"carbon write failed: {exc or 'timeout'}") from None

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def _send(self, data: bytes) -> None:
        # Carbon never sends anything: EOF on our side means it closed the connection.
        if self._writer is not None and (
            self._writer.is_closing() or (self._reader is not None and self._reader.at_eof())
        ):
            self._drop()
        if self._writer is None:
            await self._connect()
        await self._send_raw(data)
        now = time.monotonic()
        self._recent.append((now, data))
        self._recent_bytes += len(data)
        horizon = now - self.config.replay_seconds
        limit = self.config.replay_max_bytes
        while self._recent and (self._recent[0][0] < horizon or self._recent_bytes > limit):
            self._recent_bytes -= len(self._recent.popleft()[1])

    # ------------------------------------------------------------------- the sink

    async def write(self, batches: Sequence[Batch]) -> int:
        points = self._datapoints(batches)
        if points:
            await self._send(self._encode(points))
        self.points += len(points)
        return len(points)

    async def write_status(self, states: Sequence[GatewayStatus]) -> None:
        points = []
        for s in states:
            path = self.config.status_template.format(
                gateway=escape(s.gateway), device="", quantity="", unit="", tenant=""
            )
            points.append((path, 1.0 if s.up else 0.0, s.ts_ms / 1000))
        if points:
            await self._send(self._encode(points))

    async def close(self) -> None:
        if self._writer is not None:
            w = self._writer
            self._reader = self._writer = None
            w.close()
            try:
                await asyncio.wait_for(w.wait_closed(), 2.0)
            except (OSError, TimeoutError):
                w.transport.abort()

    def stats(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "skipped_non_numeric": self.skipped_non_numeric,
            "connects": self.connects,
            "replayed_bytes": self.replayed_bytes,
        }


__all__ = ["GraphiteConfig", "GraphiteSink", "escape"]
