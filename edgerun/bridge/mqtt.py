"""The bridge's MQTT 5 session: aiomqtt confined to this module.

What the consumer needs and aiomqtt 2.5 does not expose directly:

* **manual acknowledgement** — paho-mqtt (under aiomqtt) has ``manual_ack_set`` and
  ``ack(mid, qos)``; aiomqtt 2.5 has no wrapper, so :class:`Session` reaches its paho
  client here and nowhere else. A PUBACK is sent only when :meth:`Session.ack` is called;
* a **persistent session**: ``clean_start=False`` with a SessionExpiryInterval, and a
  ReceiveMaximum that bounds how many unacknowledged messages the broker sends;
* the **SUBACK reason codes** of every subscription, checked by the caller.

A message keeps the *generation* of the connection it came on: a packet id is only
meaningful on its own connection, so an ack for a message from an earlier connection is
never sent (the broker redelivers it on the new one instead).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


@dataclass(slots=True)
class Incoming:
    """One received message."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    generation: int


class SubscribeRefused(Exception):
    """The broker refused (or downgraded) a subscription."""


class Session:
    """One MQTT connection with manual acknowledgement."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        session_expiry: float = 86400.0,
        receive_maximum: int = 256,
        keepalive: int = 30,
        generation: int = 0,
    ) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = int(session_expiry)
        props.ReceiveMaximum = receive_maximum
        self.generation = generation
        self.client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=props,
            keepalive=keepalive,
            username=username,
            password=password,
            tls_context=ssl.create_default_context() if tls else None,
        )
        self._paho: Any = self.client._client
        self._paho.manual_ack_set(True)

    async def __aenter__(self) -> Session:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def subscribe(self, topics: Sequence[str]) -> list[int]:
        """Subscribe at QoS 1; returns the reason codes; raises SubscribeRefused."""
        subs = [(t, SubscribeOptions(qos=1)) for t in topics]
        codes = await self.client.subscribe(subs, timeout=30)
        values = [c if isinstance(c, int) else int(c.value) for c in codes]
        bad = [(t, v) for t, v in zip(topics, values, strict=False) if v != 1]
        if len(values) != len(topics) or bad:
            detail = ", ".join(f"{t} -> 0x{v:02X}" for t, v in bad) or "missing codes"
            raise SubscribeRefused(f"SUBACK did not grant QoS 1: {detail}")
        return values

    async def unsubscribe(self, topics: Sequence[str]) -> None:
        await self.client.unsubscribe(list(topics), timeout=30)

    async def messages(self) -> AsyncIterator[Incoming]:
        async for m in self.client.messages:
            data = bytes(m.payload)
            yield Incoming(m.topic.value, data, m.mid, m.qos, m.retain, self.generation)

    def ack(self, msg: Incoming) -> bool:
        """Send the PUBACK of ``msg``; False when it came on an earlier connection."""
        if msg.generation != self.generation or msg.qos == 0:
            return False
        rc = self._paho.ack(msg.mid, msg.qos)
        return int(rc) == 0  # MQTT_ERR_SUCCESS; else the connection is gone: redelivered

    async def publish(self, topic: str, payload: bytes, user_props: list[tuple[str, str]]) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if user_props:
            props.UserProperty = user_props
        await self.client.publish(topic, payload, qos=1, properties=props, timeout=30)


__all__ = ["Incoming", "Session", "SubscribeRefused"]
