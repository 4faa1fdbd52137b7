"""The ops HTTP endpoint on a real loopback socket: answers, load, slow and hostile clients."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgerun.config.base import convert
from edgerun.ops.catalog import gateway_metrics
from edgerun.ops.config import HttpConfig
from edgerun.ops.http import MAX_HEAD, OpsServer
from edgerun.ops.metrics import Metric, MetricDef
from edgerun.queue.base import QueueStats

pytestmark = pytest.mark.anyio


class State:
    """What the supervisor would expose: readiness and an uplink that can go down."""

    def __init__(self) -> None:
        self.queue_open = True
        self.uplink_connected = True
        self.scrapes = 0

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        return self.queue_open, {
            "queue": "open" if self.queue_open else "closed",
            "uplink": "connected" if self.uplink_connected else "disconnected",
        }

    def metrics(self) -> list[Metric]:
        self.scrapes += 1
        return gateway_metrics(
            queue=QueueStats(depth_readings=5),
            uplink={"connected": self.uplink_connected, "reconnects": 2},
            drivers={"a": {"type": "synthetic", "state": "running", "readings": 9}},
        )


@asynccontextmanager
async def serving(
    state: State | None = None, **overrides: Any
) -> AsyncIterator[tuple[OpsServer, int]]:
    state = state or State()
    cfg = convert({"listen": "127.0.0.1:0", **overrides}, HttpConfig, "http")
    server = OpsServer(
        cfg,
        health=overrides.pop("health", state.health),
        ready=state.ready,
        metrics=state.metrics,
    )
    async with anyio.create_task_group() as tg:
        addresses = await tg.start(server.run)
        yield server, addresses[0][1]
        tg.cancel_scope.cancel()


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw``, read until the server closes, parse status, headers and body."""
    with anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(raw)
            data = b""
            try:
                while True:
                    data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


async def wait_for(condition: Callable[[], bool], deadline: float = 8.0) -> None:
    """Poll a server-side condition the test cannot await directly, with a deadline."""
    with anyio.fail_after(deadline):
        for _ in iter(int, 1):  # until the deadline
            if condition():
                return
            await anyio.sleep(0.01)


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: gw\r\nUser-Agent: t\r\n\r\n".encode()


async def test_endpoints_answer() -> None:
    state = State()
    async with serving(state) as (_, port):
        status, headers, body = await request(port, get("/healthz"))
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close"
        assert int(headers["content-length"]) == len(body)

        status, _, body = await request(port, get("/readyz?verbose=1"))
        assert status == 200
        assert json.loads(body)["queue"] == "open"

        status, headers, body = await request(port, get("/metrics"))
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert {"edgerun_queue_depth_readings", "edgerun_driver_readings"} <= names

        status, headers, body = await request(port, get("/metrics", "HEAD"))
        assert (status, body) == (200, b"")
        assert int(headers["content-length"]) > 100

        assert (await request(port, get("/nope")))[0] == 404
        assert (await request(port, get("/healthz", "POST")))[0] == 405


async def test_uplink_outage_is_reported_but_stays_ready() -> None:
    state = State()
    async with serving(state) as (_, port):
        state.uplink_connected = False
        status, _, body = await request(port, get("/readyz"))
        assert status == 200
        assert json.loads(body) == {"status": "ok", "queue": "open", "uplink": "disconnected"}
        _, _, metrics = await request(port, get("/metrics"))
        assert b"edgerun_uplink_connected 0.0" in metrics
        state.queue_open = False
        status, _, body = await request(port, get("/readyz"))
        assert status == 503
        assert json.loads(body)["status"] == "fail"
        assert (await request(port, get("/healthz")))[0] == 200


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello
        (b"GET /healthz\r\n\r\n", 400),
        (b"GET /healthz SPDY/3\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
        (b"GET /" + b"a" * MAX_HEAD + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n", 431),
    ],
)
async def test_bad_requests_get_a_clear_status(raw: bytes, want: int) -> None:
    async with serving() as (server, port):
        assert (await request(port, raw))[0] == want
        assert (await request(port, get("/healthz")))[0] == 200
        assert server.stats.bad_requests == 1


async def test_failing_callables_give_500_and_serving_goes_on() -> None:
    def broken_health() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("supervisor bug")

    def broken_metrics() -> list[Metric]:
        raise KeyError("x")

    cfg = convert({"listen": "127.0.0.1:0"}, HttpConfig, "http")
    server = OpsServer(cfg, health=broken_health, ready=State().ready, metrics=broken_metrics)
    async with anyio.create_task_group() as tg:
        port = (await tg.start(server.run))[0][1]
        status, _, body = await request(port, get("/healthz"))
        assert (status, json.loads(body)) == (500, {"error": "RuntimeError"})
        assert (await request(port, get("/metrics")))[0] == 500
        assert (await request(port, get("/readyz")))[0] == 200
        tg.cancel_scope.cancel()
    assert server.stats.handler_errors == 2


async def test_slow_clients_time_out_and_excess_clients_get_503() -> None:
    # 2 s: the 503 check below must happen while the four slow clients still hold their
    # slots, even on a loaded CI machine
    async with serving(request_timeout=2.0, max_connections=4) as (server, port):
        slow = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(4)]
        for s in slow:
            await s.send(b"GET /healthz HTTP/1.1\r\nHo")  # never finishes the head
        await wait_for(lambda: server._active == 4)  # all four slots held
        status, _, body = await request(port, get("/healthz"))
        assert status == 503
        assert json.loads(body) == {"error": "too many connections"}
        with anyio.fail_after(5):
            for s in slow:  # each is answered 408 and closed after request_timeout
                got = b""
                try:
                    while True:
                        got += await s.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
                assert got.startswith(b"HTTP/1.1 408 ")
                await s.aclose()
        assert (await request(port, get("/healthz")))[0] == 200
        assert server.stats.timeouts == 4
        assert server.stats.rejected_busy == 1


async def test_client_that_never_reads_is_dropped() -> None:
    big = Metric(MetricDef("big", "A huge label.", "gauge", ("v",))).add(1, "x" * 16_000_000)
    state = State()
    cfg = convert({"listen": "127.0.0.1:0", "request_timeout": 0.5}, HttpConfig, "http")
    server = OpsServer(
        cfg, health=state.health, ready=state.ready, metrics=lambda: [big], process_metrics=False
    )
    async with anyio.create_task_group() as tg:
        port = (await tg.start(server.run))[0][1]

        def stuck_client() -> None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(get("/metrics"))
            done.wait(10)  # never reads
            s.close()

        import threading

        done = threading.Event()
        thread = threading.Thread(target=stuck_client)
        thread.start()
        try:
            await wait_for(lambda: server.stats.timeouts > 0 and server._active == 0)
            assert server.stats.timeouts == 1
            assert (await request(port, get("/healthz")))[0] == 200
        finally:
            done.set()
            thread.join()
        tg.cancel_scope.cancel()


async def test_under_load_every_request_is_answered() -> None:
    state = State()
    ticks = 0
    async with serving(state, max_connections=64) as (server, port):
        results: list[int] = []

        async def client(paths: list[str]) -> None:
            for p in paths:
                results.append((await request(port, get(p)))[0])

        async def data_path(stop: anyio.Event) -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await anyio.lowlevel.checkpoint()

        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(data_path, stop)
            async with anyio.create_task_group() as clients:
                for i in range(32):
                    clients.start_soon(client, ["/healthz", "/readyz", "/metrics"] * 8 + [f"/x{i}"])
            stop.set()
    assert len(results) == 32 * 25
    assert results.count(200) == 32 * 24
    assert results.count(404) == 32
    assert state.scrapes == 32 * 8
    assert server.stats.rejected_busy == server.stats.timeouts == 0
    assert ticks > 100  # the loop kept running other work while serving


async def test_switched_off_binds_nothing() -> None:
    cfg = convert({"enabled": False}, HttpConfig, "http")
    state = State()
    server = OpsServer(cfg, health=state.health, ready=state.ready, metrics=state.metrics)
    async with anyio.create_task_group() as tg:
        assert await tg.start(server.run) == []
        tg.cancel_scope.cancel()
    assert server.addresses == []


async def test_port_in_use_raises_before_started() -> None:
    async with serving() as (_, port):
        cfg = convert({"listen": f"127.0.0.1:{port}"}, HttpConfig, "http")
        state = State()
        server = OpsServer(cfg, health=state.health, ready=state.ready, metrics=state.metrics)
        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                await tg.start(server.run)
        assert info.group_contains(OSError, match="in use")
