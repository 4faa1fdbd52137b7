"""MQTT 5 Server Reference redirects, URL parsing, backoff and the window's backlog share."""

from __future__ import annotations

import random
import struct
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import pytest

from edgerun.config.base import ConfigError, convert
from edgerun.uplink.backoff import Backoff
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.endpoints import Endpoint, Endpoints, parse_server_reference
from edgerun.uplink.stats import UplinkStats
from edgerun.uplink.uplink import Uplink
from edgerun.uplink.window import Window
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector, gateway, memory_queue, row


async def read_packet(stream: anyio.abc.ByteStream) -> bytes:
    head = await stream.receive(1)
    length, shift = 0, 0
    while True:
        b = (await stream.receive(1))[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    body = b""
    while len(body) < length:
        body += await stream.receive(length - len(body))
    return head + body


def connack_redirect(reference: str, reason: int = 0x9C) -> bytes:
    ref = reference.encode()
    props = bytes([0x1C]) + struct.pack(">H", len(ref)) + ref
    body = bytes([0x00, reason, len(props)]) + props
    return bytes([0x20, len(body)]) + body


async def run_through_fake_node(
    broker: Mosquitto, node: Callable[[anyio.abc.SocketStream], Awaitable[None]], what: str
) -> UplinkStats:
    """An uplink pointed at ``node`` (a fake broker on a free port) ships 100 readings that
    must reach the real ``broker``; returns the uplink's stats."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    cfg = convert(
        {"url": f"mqtt://127.0.0.1:{port}", "backoff_base": 0.05, "backoff_cap": 0.2},
        UplinkConfig,
    )
    q = await memory_queue()
    up = Uplink(cfg, gateway(), q, dict)
    col = Collector(broker.host, broker.port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, node)
        await tg.start(col.run)
        await tg.start(up.run)
        for i in range(100):
            q.offer(row(i))
        await col.wait_for(lambda: len(col.ids) == 100, 10, what)
        tg.cancel_scope.cancel()
    return up.stats()


@pytest.mark.anyio
async def test_connack_redirect_is_followed(broker: Mosquitto) -> None:
    connects = 0

    async def fake_node(stream: anyio.abc.SocketStream) -> None:
        nonlocal connects
        async with stream:
            packet = await read_packet(stream)
            assert packet[0] == 0x10  # CONNECT
            connects += 1
            await stream.send(connack_redirect(f"127.0.0.1:{broker.port}"))

    st = await run_through_fake_node(broker, fake_node, "readings via the redirect")
    assert connects >= 1
    assert st.redirects >= 1
    assert st.endpoint == f"mqtt://127.0.0.1:{broker.port}"


def disconnect_redirect(reference: str, reason: int = 0x9D) -> bytes:
    ref = reference.encode()
    props = bytes([0x1C]) + struct.pack(">H", len(ref)) + ref
    body = bytes([reason, len(props)]) + props
    return bytes([0xE0, len(body)]) + body


@pytest.mark.anyio
async def test_disconnect_with_server_moved_is_followed(broker: Mosquitto) -> None:
    sessions = 0

    async def evacuating_node(stream: anyio.abc.SocketStream) -> None:
        nonlocal sessions
        async with stream:
            assert (await read_packet(stream))[0] == 0x10  # CONNECT
            await stream.send(bytes([0x20, 0x03, 0x00, 0x00, 0x00]))  # CONNACK accepted
            sessions += 1
            assert (await read_packet(stream))[0] & 0xF0 == 0x30  # the birth PUBLISH
            await stream.send(disconnect_redirect(f"127.0.0.1:{broker.port}"))

    st = await run_through_fake_node(broker, evacuating_node, "readings after the move")
    assert sessions >= 1
    assert st.redirects >= 1
    assert st.drops >= 1
    assert st.endpoint == f"mqtt://127.0.0.1:{broker.port}"


def test_server_reference_parsing() -> None:
    cur = Endpoint("a", 1883, True)
    assert parse_server_reference("b:1999 c:2000", cur) == Endpoint("b", 1999, True)
    assert parse_server_reference("b", cur) == Endpoint("b", 1883, True)
    assert parse_server_reference("[::1]:8883", cur) == Endpoint("::1", 8883, True)
    assert parse_server_reference("b:x", cur) is None
    assert parse_server_reference("", cur) is None


def test_endpoint_list_rotates_and_uses_a_redirect_once() -> None:
    eps = Endpoints(["mqtt://a:1", "mqtt://b:2", "mqtts://c"], random.Random(0))
    first = eps.current()
    eps.failed()
    second = eps.current()
    assert second != first
    eps.redirect(Endpoint("r", 9, False))
    assert eps.current() == Endpoint("r", 9, False)
    eps.failed()  # the redirect target failed: back to the list, where we were
    assert eps.current() == second
    assert {str(e) for e in eps.items} == {"mqtt://a:1", "mqtt://b:2", "mqtts://c:8883"}


@pytest.mark.parametrize(
    "url",
    ["http://x", "mqtt://user:pw@host", "mqtt://", "mqtt://h:99999", "mqtt://h/path"],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        convert({"url": url}, UplinkConfig)


def test_backoff_is_capped_full_jitter() -> None:
    b = Backoff(1.0, 8.0, random.Random(1))
    bounds = []
    delays = []
    for _ in range(200):
        bounds.append(b.bound())
        delays.append(b.next_delay())
    assert bounds[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert all(0 <= d <= bd for d, bd in zip(delays, bounds, strict=True))
    tail = delays[10:]
    assert min(tail) < 1.0, "full jitter reaches down to 0"
    assert max(tail) > 7.0, "full jitter reaches up to the cap"
    b.reset()
    assert b.bound() == 1.0


@pytest.mark.anyio
async def test_window_keeps_room_for_live_batches() -> None:
    w = Window(4, 3)
    for _ in range(3):
        assert w.has_room(True)
        w.add(True)
    assert not w.has_room(True)
    assert w.has_room(False), "a live batch still fits"
    w.add(False)
    assert not w.has_room(False)
    w.done(True)
    assert w.has_room(False)
    assert w.has_room(True)
