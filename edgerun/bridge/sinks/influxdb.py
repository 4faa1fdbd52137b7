"""InfluxDB sink: line protocol over HTTP, InfluxDB 1.x ``/write`` or 2.x ``/api/v2/write``.

One measurement per quantity (``measurement_template``, default ``{quantity}``), tags
``device``, ``gateway``, ``hist`` (``true`` for backlog batches), ``unit`` (left out when
empty) and ``tenant`` (when the batch names one), one field ``value``, timestamp in ms
(``precision=ms``). InfluxDB keys a point by measurement, tag set and timestamp and
overwrites the fields of a point written again, so writes are idempotent. Numbers are
always written as floats: an integer reading followed by a fractional one of the same
quantity would otherwise be a field type conflict that InfluxDB refuses.

Requests carry at most ``max_points`` lines (5000: InfluxDB's documented sweet spot for
batch size) and are sent with the standard library's ``http.client`` on one keep-alive
connection in a worker thread, so the event loop never blocks on the database.
``timeout`` (10 s) bounds one request: InfluxDB answers a 5000-point write in tens of ms
when healthy; longer means it is stalled, and the bridge treats it as an outage.

Answers: 2xx is written; 429 and 5xx (and any connection error) mean "retry later"; any
other 4xx means the data itself was refused (a field type conflict, a missing database)
and is reported with InfluxDB's error text. The gateway status series goes to
``status_measurement`` with tag ``gateway`` and fields ``up`` (1/0) and ``changed_ms``.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from edgerun.bridge.batch import DEV, TS, UNIT, VAL, Batch, Q
from edgerun.bridge.sinks.base import (
    GatewayStatus,
    Sink,
    SinkConfig,
    SinkRejected,
    SinkUnavailable,
)
from edgerun.config.base import Duration, Secret

log = logging.getLogger("edgerun.bridge.influxdb")

_MEAS = re.compile(r"([, \\])")
_TAG = re.compile(r"([,= \\])")
_CTRL = re.compile(r"[\r\n\t]")


def esc_measurement(s: str) -> str:
    return _MEAS.sub(r"\\\1", _CTRL.sub("_", s))


def esc_tag(s: str) -> str:
    """Escape a tag key or value (commas, equals signs, spaces)."""
    return _TAG.sub(r"\\\1", _CTRL.sub("_", s))


def field_value(v: float | int | bool | str) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return repr(float(v))


class InfluxConfig(SinkConfig):
    """``[[sinks]] type = "influxdb"``."""

    url: str = "http://127.0.0.1:8086"
    #: ``v1`` posts to ``/write?db=``; ``v2`` to ``/api/v2/write?org=&bucket=``.
    api: Literal["v1", "v2"] = "v1"
    database: str = "edgerun"
    retention_policy: str = ""
    username: str | None = None
    password: Secret | None = None
    org: str = ""
    bucket: str = ""
    token: Secret | None = None
    measurement_template: str = "{quantity}"
    status_measurement: str = "edgerun_gateway_status"
    max_points: int = 5000
    timeout: Duration = Duration(10.0)


class InfluxSink(Sink):
    """Writes batches as line protocol."""

    config_type = InfluxConfig

    def __init__(self, name: str, config: InfluxConfig) -> None:
        super().__init__(name, config)
        self.config: InfluxConfig = config
        parts = urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host:port, got {config.url!r}")
        if config.api == "v2" and not config.bucket:
            raise ValueError("api = 'v2' needs bucket (and usually org and token)")
        for name_ in re.findall(r"{([^{}]*)}", config.measurement_template):
            if name_ not in ("quantity", "unit"):
                raise ValueError(f"unknown placeholder {{{name_}}} in measurement_template")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        base = parts.path.rstrip("/")
        if config.api == "v1":
            q = {"db": config.database, "precision": "ms"}
            if config.retention_policy:
                q["rp"] = config.retention_policy
            self._path = f"{base}/write?{urlencode(q)}"
        else:
            q = {"org": config.org, "bucket": config.bucket, "precision": "ms"}
            self._path = f"{base}/api/v2/write?{urlencode(q)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if config.token is not None:
            self._headers["Authorization"] = f"Token {config.token.value}"
        elif config.username is not None:
            pw = config.password.value if config.password is not None else ""
            cred = base64.b64encode(f"{config.username}:{pw}".encode()).decode()
            self._headers["Authorization"] = f"Basic {cred}"
        self._prefixes: dict[tuple[str, str, str, str, bool, str], str] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"influx-{name}")
        self._conn: http.client.HTTPConnection | None = None
        self.points = 0
        self.requests = 0

    # ----------------------------------------------------------------- formatting

    def _prefix(self, gw: str, dev: str, q: str, unit: str, hist: bool, tenant: str) -> str:
        key = (gw, dev, q, unit, hist, tenant)
        p = self._prefixes.get(key)
        if p is None:
            meas = esc_measurement(self.config.measurement_template.format(quantity=q, unit=unit))
            h = "true" if hist else "false"
            p = f"{meas},device={esc_tag(dev)},gateway={esc_tag(gw)},hist={h}"
            if tenant:
                p += f",tenant={esc_tag(tenant)}"
            if unit:
                p += f",unit={esc_tag(unit)}"
            p += " value="
            if len(self._prefixes) > 200_000:
                self._prefixes.clear()
            self._prefixes[key] = p
        return p

    def lines(self, batches: Sequence[Batch]) -> list[str]:
        out: list[str] = []
        append = out.append
        prefix = self._prefix
        for b in batches:
            gw, hist, tenant = b.gateway, b.hist, b.tenant or ""
            for r in b.rows:
                v = r[VAL]
                fv = repr(float(v)) if type(v) is int or type(v) is float else field_value(v)
                append(f"{prefix(gw, r[DEV], r[Q], r[UNIT], hist, tenant)}{fv} {r[TS]}\n")
        return out

    # ------------------------------------------------------------------- HTTP

    def _post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=self.config.timeout)
            try:
                self._conn.request("POST", self._path, body, self._headers)
                resp = self._conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self._conn.close()
                    self._conn = None
                return resp.status, data
            except (OSError, http.client.HTTPException) as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                # A kept-alive connection the server closed fails once; retry on a new one.
                if attempt == 2 or not isinstance(
                    exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                ):
                    raise
        raise AssertionError("unreachable")

    async def _send(self, lines: list[str]) -> None:
        loop = asyncio.get_running_loop()
        step = max(1, self.config.max_points)
        for i in range(0, len(lines), step):
            body = "".join(lines[i : i + step]).encode()
            try:
                status, data = await loop.run_in_executor(self._pool, self._post, body)
            except (OSError, http.client.HTTPException) as exc:
                raise SinkUnavailable(f"influxdb {self.config.url}: {exc}") from None
            self.requests += 1
            text = data[:300].decode("utf-8", "replace").strip()
            if status == 429 or status >= 500:
                raise SinkUnavailable(f"influxdb answered {status}: {text}")
            if status >= 300:
                raise SinkRejected(f"influxdb answered {status}: {text}")

    async def write(self, batches: Sequence[Batch]) -> int:
        lines = self.lines(batches)
        if lines:
            await self._send(lines)
        self.points += len(lines)
        return len(lines)

    async def write_status(self, states: Sequence[GatewayStatus]) -> None:
        meas = esc_measurement(self.config.status_measurement)
        lines = [
            f"{meas},gateway={esc_tag(s.gateway)} up={1 if s.up else 0}i,"
            f"changed_ms={s.changed_ms}i {s.ts_ms}\n"
            for s in states
        ]
        if lines:
            await self._send(lines)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=False)

    def stats(self) -> dict[str, Any]:
        return {"points": self.points, "requests": self.requests}


__all__ = ["InfluxConfig", "InfluxSink", "esc_measurement", "esc_tag", "field_value"]
