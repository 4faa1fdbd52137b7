"""A tiny HTTP/1.1 server for /healthz, /readyz and /metrics, safe against slow clients.

It is built on anyio streams (no web framework: about 1 MB less RSS and no dependency to
keep patched on 300 gateways) and does exactly this: read one request head, answer it,
close. Defences, each bounded by :class:`~edgerun.ops.config.HttpConfig`:

- the request head must arrive within ``request_timeout`` and fit in 8 KiB
  (:data:`MAX_HEAD`; probes and scrapers send a few hundred bytes), else 408 / 431;
- the response must be taken within the same deadline (a client that stops reading
  cannot pin a task and a buffer);
- at most ``max_connections`` clients at once; the next one gets a canned 503;
- only GET and HEAD; anything else is 405, garbage is 400; never a crash.

The server knows nothing about the gateway: the owner passes three callables, called on
the event loop at request time, which is what makes it reusable by the bridge::

    server = OpsServer(cfg, health=lambda: (True, {}), ready=sup.readiness,
                       metrics=sup.metrics)
    await tg.start(server.run)          # returns once the socket is bound

``health``/``ready`` return ``(ok, details)``; ``details`` is sent as the JSON body (200
when ok, 503 when not). ``metrics`` returns :class:`~edgerun.ops.metrics.Metric` objects.
A callable that raises gives a 500 naming the exception; the server keeps serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import msgspec
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from edgerun.ops.config import HttpConfig
from edgerun.ops.metrics import CONTENT_TYPE, Metric, render

log = logging.getLogger("edgerun.ops.http")

#: Longest request head accepted (request line + headers).
MAX_HEAD = 8192

Check = Callable[[], tuple[bool, dict[str, Any]]]
MetricsSource = Callable[[], Iterable[Metric]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_JSON = "application/json"


class ServerStats(msgspec.Struct):
    """Counters of the endpoint itself (exposed by the owner if it wants them)."""

    requests: int = 0
    rejected_busy: int = 0
    timeouts: int = 0
    bad_requests: int = 0
    handler_errors: int = 0


def _response(status: int, body: bytes, content_type: str, head_only: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return head if head_only else head + body


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, default=str, sort_keys=True).encode() + b"\n"


_BUSY = _response(503, _json({"error": "too many connections"}), _JSON)


class OpsServer:
    """Serves /healthz, /readyz and /metrics on the configured address."""

    def __init__(
        self,
        config: HttpConfig,
        *,
        health: Check,
        ready: Check,
        metrics: MetricsSource,
        process_metrics: bool = True,
    ) -> None:
        self.config = config
        self._health = health
        self._ready = ready
        self._metrics = metrics
        self._process_metrics = process_metrics
        self._active = 0
        self.stats = ServerStats()
        #: ``(host, port)`` pairs actually bound (port 0 resolves here); set by :meth:`run`.
        self.addresses: list[tuple[str, int]] = []

    async def run(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report ``started(addresses)`` and serve until cancelled.

        With the endpoint switched off this reports started and waits (so the owner's task
        layout stays the same). A bind failure (port in use, address missing) raises
        ``OSError`` before ``started``: the owner decides whether that is fatal.
        """
        if not self.config.active:
            task_status.started([])
            await anyio.sleep_forever()
        bind = self.config.bind
        listener = await anyio.create_tcp_listener(
            local_host=bind.host or None, local_port=bind.port
        )
        async with listener:
            self.addresses = [
                tuple(sub.extra(SocketAttribute.local_address))[:2]  # type: ignore[misc]
                for sub in listener.listeners
            ]
            log.info("ops endpoint on %s", ", ".join(f"{h}:{p}" for h, p in self.addresses))
            task_status.started(list(self.addresses))
            await listener.serve(self._handle)

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            if self._active >= self.config.max_connections:
                self.stats.rejected_busy += 1
                with anyio.move_on_after(1.0):
                    await stream.send(_BUSY)
                return
            self._active += 1
            try:
                await self._serve_one(stream)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the client went away: nothing to answer
            except OSError as exc:
                log.debug("ops client error: %s", exc)
            finally:
                self._active -= 1

    async def _serve_one(self, stream: SocketStream) -> None:
        timeout = float(self.config.request_timeout)
        reader = BufferedByteReceiveStream(stream)
        with anyio.move_on_after(timeout) as scope:
            try:
                head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
            except anyio.DelimiterNotFound:
                self.stats.bad_requests += 1
                response = _response(431, _json({"error": "request head too large"}), _JSON)
            except anyio.IncompleteRead:
                return
            else:
                if len(head) > MAX_HEAD:  # the delimiter came in the same read as the excess
                    self.stats.bad_requests += 1
                    response = _response(431, _json({"error": "request head too large"}), _JSON)
                else:
                    response = self._respond(head)
            await stream.send(response)
        if scope.cancelled_caught:
            self.stats.timeouts += 1
            with anyio.move_on_after(0.5):
                await stream.send(_response(408, _json({"error": "request timeout"}), _JSON))

    def _respond(self, head: bytes) -> bytes:
        line = head.split(b"\r\n", 1)[0]
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self.stats.bad_requests += 1
            return _response(400, _json({"error": "malformed request line"}), _JSON)
        method, target = parts[0], parts[1]
        if method not in (b"GET", b"HEAD"):
            self.stats.bad_requests += 1
            return _response(405, _json({"error": "only GET and HEAD"}), _JSON)
        head_only = method == b"HEAD"
        path = target.split(b"?", 1)[0]
        self.stats.requests += 1
        if path == b"/healthz":
            return self._check(self._health, head_only)
        if path == b"/readyz":
            return self._check(self._ready, head_only)
        if path == b"/metrics":
            return self._render_metrics(head_only)
        return _response(404, _json({"error": "not found"}), _JSON, head_only)

    def _check(self, check: Check, head_only: bool) -> bytes:
        try:
            ok, details = check()
            body = _json({"status": "ok" if ok else "fail", **details})
        except Exception as exc:
            self.stats.handler_errors += 1
            log.exception("health/readiness check failed")
            return _response(500, _json({"error": type(exc).__name__}), _JSON, head_only)
        return _response(200 if ok else 503, body, _JSON, head_only)

    def _render_metrics(self, head_only: bool) -> bytes:
        try:
            body = render(self._metrics(), process=self._process_metrics)
        except Exception as exc:
            self.stats.handler_errors += 1
            log.exception("metrics collection failed")
            return _response(500, _json({"error": type(exc).__name__}), _JSON, head_only)
        return _response(200, body, CONTENT_TYPE, head_only)


__all__ = ["MAX_HEAD", "Check", "MetricsSource", "OpsServer", "ServerStats"]
