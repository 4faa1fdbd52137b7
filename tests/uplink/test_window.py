"""The in-flight window against a broker that withholds PUBACKs (a fake MQTT 5 server).

The window is bounded by edgerun, not by the MQTT library: with no PUBACK coming, exactly
``inflight`` batches go out; backlog uses at most ``inflight_backlog`` of them, so a live
batch still goes out while the backlog has its share in flight; each PUBACK lets one more go.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.abc
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.uplink.docs_decoder import decode_doc
from tests.uplink.helpers import gateway, memory_queue, row
from tests.uplink.test_redirect import read_packet

pytestmark = pytest.mark.anyio

#: How long "nothing more is sent" is observed; the uplink sends within milliseconds.
QUIET = 0.3


def parse_publish(packet: bytes) -> tuple[str, int, bytes]:
    """(topic, packet id, payload) of a v5 QoS 1 PUBLISH as ``read_packet`` returns it."""
    i = 1  # after the first header byte (read_packet drops the remaining-length bytes)
    tlen = int.from_bytes(packet[i : i + 2], "big")
    topic = packet[i + 2 : i + 2 + tlen].decode()
    i += 2 + tlen
    pid = int.from_bytes(packet[i : i + 2], "big")
    i += 2
    plen, shift = 0, 0
    while True:
        b = packet[i]
        i += 1
        plen |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return topic, pid, packet[i + plen :]


class WithholdingBroker:
    """Accepts one gateway, acks its status message, withholds data PUBACKs until told."""

    def __init__(self) -> None:
        self.data: list[tuple[int, dict[str, Any]]] = []  # (packet id, decoded batch)
        self.changed = anyio.Event()
        self.stream: anyio.abc.SocketStream | None = None

    async def serve(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            assert (await read_packet(stream))[0] == 0x10
            await stream.send(bytes([0x20, 0x03, 0x00, 0x00, 0x00]))
            self.stream = stream
            while True:
                packet = await read_packet(stream)
                if packet[0] & 0xF0 != 0x30:
                    continue
                topic, pid, payload = parse_publish(packet)
                if topic.endswith("/status"):
                    await self.puback(pid)
                    continue
                self.data.append((pid, decode_doc(payload)))
                self.changed.set()
                self.changed = anyio.Event()

    async def puback(self, pid: int) -> None:
        assert self.stream is not None
        await self.stream.send(bytes([0x40, 0x02]) + pid.to_bytes(2, "big"))

    async def wait_count(self, n: int, timeout: float = 10) -> None:
        with anyio.fail_after(timeout):
            while len(self.data) < n:
                await self.changed.wait()

    async def stays_at(self, n: int) -> bool:
        deadline = time.monotonic() + QUIET
        while time.monotonic() < deadline:
            with anyio.move_on_after(deadline - time.monotonic()):
                await self.changed.wait()
        return len(self.data) == n


async def start(broker: WithholdingBroker, tg: anyio.abc.TaskGroup) -> str:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    tg.start_soon(listener.serve, broker.serve)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    return f"mqtt://127.0.0.1:{port}"


async def test_window_is_bounded_and_each_puback_opens_one_slot() -> None:
    broker = WithholdingBroker()
    q = await memory_queue(chunk_readings=10)
    async with anyio.create_task_group() as tg:
        url = await start(broker, tg)
        cfg = convert(
            {"url": url, "inflight": 5, "heartbeat_interval": 0, "max_batch_readings": 10},
            UplinkConfig,
        )
        up = Uplink(cfg, gateway(), q, dict)
        await tg.start(up.run)
        for i in range(200):  # 20 chunks of 10: far more than the window
            q.offer(row(i))
        await broker.wait_count(5)
        assert await broker.stays_at(5), "no more than the window without a PUBACK"
        assert up.stats().inflight == 5
        await broker.puback(broker.data[0][0])
        await broker.wait_count(6)
        assert await broker.stays_at(6), "one PUBACK, one more batch"
        assert q.stats().acked == 10
        tg.cancel_scope.cancel()


async def test_backlog_leaves_room_for_live_batches() -> None:
    broker = WithholdingBroker()
    q = await memory_queue(chunk_readings=10, live_window=0.2)
    async with anyio.create_task_group() as tg:
        url = await start(broker, tg)
        cfg = convert(
            {
                "url": url,
                "inflight": 4,
                "inflight_backlog": 3,
                "heartbeat_interval": 0,
                "max_batch_readings": 10,
            },
            UplinkConfig,
        )
        up = Uplink(cfg, gateway(), q, dict)
        for i in range(200):  # backlog: offered before the uplink runs, aged past 0.2 s
            q.offer(row(i))
        offered_at = time.monotonic()
        while time.monotonic() - offered_at < 0.4:
            await anyio.sleep(0.05)  # the readings must age past the live window
        await tg.start(up.run)
        await broker.wait_count(3)
        assert await broker.stays_at(3), "backlog uses only its share of the window"
        assert all(doc["hist"] for _, doc in broker.data)
        for i in range(10):  # one live chunk
            q.offer(row(1000 + i))
        await broker.wait_count(4)
        live = broker.data[3][1]
        assert live["hist"] is False, "the live batch goes out while the backlog is held"
        assert up.stats().inflight == 4
        tg.cancel_scope.cancel()
