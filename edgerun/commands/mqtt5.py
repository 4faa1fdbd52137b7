"""Reading a command message and building result properties, whatever carries them.

The router sees the uplink's incoming messages (``aiomqtt.Message``: ``.topic``,
``.payload``, ``.properties``) and hands ``properties`` back to ``uplink.publish``. MQTT 5
request/response uses two properties: the sender's *Response Topic* says where the result
goes and its *Correlation Data* must be echoed unchanged. This module is the only place
that knows their attribute names; paho's ``Properties`` class (which aiomqtt passes
through) is imported only when a result actually needs correlation data.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: Correlation data is opaque to us and echoed unchanged; longer than this is not a
#: correlation id but an attempt to make every result large, so it is not echoed.
MAX_CORRELATION = 1024


class Incoming(msgspec.Struct, frozen=True):
    """The parts of an MQTT message the router uses."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation: bytes | None = None
    #: The payload's size as received; the payload itself is dropped when it is too big.
    size: int = 0

    def without_payload(self) -> Incoming:
        """The same message with its payload discarded (for oversized ones)."""
        return Incoming(self.topic, b"", self.response_topic, self.correlation, self.size)


def incoming(message: Any) -> Incoming:
    """Extract topic, payload and the request/response properties from a message.

    Accepts aiomqtt messages (``topic.value``) and anything with ``topic``/``payload``
    attributes; payloads that are text or numbers are turned into bytes the way they
    travelled.
    """
    topic = getattr(message, "topic", "")
    topic = str(getattr(topic, "value", topic))
    raw = getattr(message, "payload", b"")
    if isinstance(raw, bytes | bytearray | memoryview):
        payload = bytes(raw)
    elif raw is None:
        payload = b""
    else:
        payload = str(raw).encode("utf-8", "replace")
    props = getattr(message, "properties", None)
    response = getattr(props, "ResponseTopic", None) if props is not None else None
    corr = getattr(props, "CorrelationData", None) if props is not None else None
    return Incoming(
        topic=topic,
        payload=payload,
        size=len(payload),
        response_topic=response if isinstance(response, str) else None,
        correlation=(
            bytes(corr)
            if isinstance(corr, bytes | bytearray) and len(corr) <= MAX_CORRELATION
            else None
        ),
    )


def result_properties(correlation: bytes | None) -> Any:
    """Publish properties that echo ``correlation``, or ``None`` when there is none."""
    if correlation is None:
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.CorrelationData = correlation
    return props


__all__ = ["MAX_CORRELATION", "Incoming", "incoming", "result_properties"]
