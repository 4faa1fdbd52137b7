"""Test helpers: a subscriber that records what reaches the broker, readings to feed a queue.

:class:`Collector` is an independent MQTT client (aiomqtt, its own reconnect loop) that
decodes batches with the docs-only decoder and counts every reading id, so loss and
duplicates are measured at a real subscriber. ``wait_for`` waits on a condition with a
deadline; every received message re-checks it.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiomqtt
import anyio
import anyio.abc

from edgerun.config.model import GatewayConfig
from edgerun.queue.config import QueueConfig
from edgerun.queue.memory import MemoryQueue
from edgerun.readings import Row
from tests.uplink.docs_decoder import decode_doc, records


def row(i: int, ts: int | None = None) -> Row:
    """A typical sensor reading; ``i`` picks the device and value."""
    return (
        ts if ts is not None else time.time_ns() // 1_000_000,
        f"mesh/node-{i % 7}",
        "temperature",
        20.0 + (i % 50) / 10,
        "°C",
        True,
        None,
    )


async def memory_queue(**overrides: Any) -> MemoryQueue:
    cfg = {"backend": "memory", "chunk_readings": 100, **overrides}
    q = MemoryQueue(QueueConfig(**cfg))
    await q.open()
    return q


def gateway(gw_id: str = "gw-test") -> GatewayConfig:
    return GatewayConfig(id=gw_id, data_dir="/nonexistent")


class Collector:
    """Subscribes to ``<prefix>/#`` and records batches, statuses and heartbeats."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        prefix: str = "edgerun",
        persistent: bool = False,
        tls_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.prefix = prefix
        self.persistent = persistent
        self.tls_context = tls_context
        self.username, self.password = username, password
        self.client_id = f"collector-{uuid.uuid4().hex[:10]}"
        self.ids: Counter[int] = Counter()
        self.order: list[int] = []  # reading ids in arrival order
        self.docs: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.status_history: list[dict[str, Any]] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.arrivals: list[tuple[float, dict[str, Any]]] = []  # (monotonic, record)
        self.connected = anyio.Event()
        self._changed = anyio.Event()

    @property
    def duplicates(self) -> int:
        return sum(c - 1 for c in self.ids.values() if c > 1)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _handle(self, topic: str, payload: bytes) -> None:
        kind = topic.rsplit("/", 1)[-1]
        now = time.monotonic()
        if kind == "data":
            doc = decode_doc(payload)
            self.raw.append(payload)
            self.docs.append(doc)
            for rec in records(doc):
                self.ids[rec["id"]] += 1
                self.order.append(rec["id"])
                self.arrivals.append((now, rec))
        elif kind == "status":
            if payload:
                st = json.loads(payload)
                self.status[topic] = st
                self.status_history.append(st)
        elif kind == "heartbeat":
            self.heartbeats.append(json.loads(payload))

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    clean_session=not self.persistent,
                    tls_context=self.tls_context,
                    username=self.username,
                    password=self.password,
                    max_queued_incoming_messages=0,
                ) as client:
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    self.connected.set()
                    if not started:
                        started = True
                        task_status.started()
                    async for msg in client.messages:
                        assert isinstance(msg.payload, bytes)
                        self._handle(msg.topic.value, msg.payload)
                        self._notify()
            except aiomqtt.MqttError:
                self.connected = anyio.Event()
                await anyio.sleep(0.05)  # reconnect pacing while the broker is down

    async def wait_for(self, cond: Callable[[], bool], timeout: float, what: str = "") -> None:
        with anyio.fail_after(timeout):
            while not cond():
                changed = self._changed
                with anyio.move_on_after(0.5):
                    await changed.wait()
        assert cond(), what
