"""A datacenter-side MQTT 5 client for the command tests: sends commands, collects results."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import anyio
import anyio.abc
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass
class Received:
    topic: str
    body: dict[str, Any]
    correlation: bytes | None


class Sender:
    """Publishes commands and records every result that arrives on ``filters``."""

    def __init__(self, host: str, port: int, filters: list[str]) -> None:
        self.host, self.port = host, port
        self.filters = filters
        self.results: list[Received] = []
        self._client: aiomqtt.Client | None = None
        self._changed = anyio.Event()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with aiomqtt.Client(
            self.host, self.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="datacenter"
        ) as client:
            for f in self.filters:
                await client.subscribe(f, qos=1)
            self._client = client
            task_status.started()
            async for msg in client.messages:
                assert isinstance(msg.payload, bytes)
                props = msg.properties
                corr = getattr(props, "CorrelationData", None) if props is not None else None
                self.results.append(Received(msg.topic.value, json.loads(msg.payload), corr))
                self._changed.set()
                self._changed = anyio.Event()

    async def send(
        self,
        topic: str,
        payload: bytes | dict[str, Any],
        response_topic: str | None = None,
        correlation: bytes | None = None,
        qos: int = 1,
    ) -> None:
        assert self._client is not None
        raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        props = None
        if response_topic is not None or correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        await self._client.publish(topic, raw, qos=qos, properties=props)

    def by_correlation(self, corr: bytes) -> Received | None:
        return next((r for r in self.results if r.correlation == corr), None)

    def by_id(self, command_id: str) -> list[Received]:
        return [r for r in self.results if r.body.get("id") == command_id]

    async def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        with anyio.fail_after(timeout):
            while not cond():
                changed = self._changed
                with anyio.move_on_after(0.5):
                    await changed.wait()
        assert cond(), what
