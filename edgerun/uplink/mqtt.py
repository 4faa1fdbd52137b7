"""One MQTT connection, and the only module that imports aiomqtt (and, through it, paho).

:func:`connect` opens a connection to one endpoint and classifies every way that can fail,
so the uplink can count and log authentication, TLS, protocol and network failures apart
and follow MQTT 5 redirects. A fresh client is built for every connection: paho would
otherwise resend its own in-memory unacknowledged messages after a reconnect, duplicating
what the uplink redelivers from its queue, and it would keep them across a fail-over to a
different node.

The library's in-flight limit is switched off (``max_inflight_messages=0``): the uplink
bounds its window itself, because paho rescans every in-flight message on each send and
ack when a limit is set (throughput halves at large windows).

Two of aiomqtt's gaps are bridged here through its paho client: CONNACK and DISCONNECT
properties (Server Reference, Receive Maximum) are captured, and a connection closed before
its CONNACK (a broker rejecting a client certificate after the TLS handshake) fails the
connect at once instead of after the full CONNACK timeout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, Literal

import aiomqtt
import anyio
import msgspec
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY, MQTT_LOG_ERR
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgerun.uplink.endpoints import Endpoint, parse_server_reference

log = logging.getLogger("edgerun.uplink")

FailureKind = Literal["auth", "tls", "protocol", "network", "timeout", "refused", "redirect"]

#: CONNACK reason codes (v5 values; paho maps v3.1.1 return codes onto them).
AUTH_CODES: Final = frozenset({0x86, 0x87, 0x8C})  # bad credentials, not authorized, auth method
PROTOCOL_CODES: Final = frozenset({0x84})  # unsupported protocol version
REDIRECT_CODES: Final = frozenset({0x9C, 0x9D})  # use another server, server moved
_TLS_MARKERS: Final = ("certificate", "ssl", "tls", "handshake", "wrong version number")

Message = aiomqtt.Message


class ConnectFailed(Exception):
    """A connect attempt failed; ``kind`` says how."""

    def __init__(self, kind: FailureKind, reason: str, redirect: Endpoint | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.redirect = redirect


class ConnectionLost(Exception):
    """An established connection ended; ``redirect`` is set for an MQTT 5 redirect."""

    def __init__(self, reason: str, redirect: Endpoint | None = None) -> None:
        super().__init__(reason)
        self.redirect = redirect


class ConnectParams(msgspec.Struct, frozen=True):
    """Everything needed to open one connection."""

    endpoint: Endpoint
    client_id: str
    keepalive: int
    connect_timeout: float
    mqtt5: bool = True
    username: str | None = None
    password: str | None = None
    will_topic: str | None = None
    will_payload: bytes = b""
    #: MQTT 5: the broker waits this long before publishing the will (0 = at once).
    will_delay: int = 0
    tls_context: ssl.SSLContext | None = None


def _reason_value(rc: Any) -> int:
    value = getattr(rc, "value", rc)
    return int(value) if isinstance(value, int) else -1


def _server_reference(props: Any, endpoint: Endpoint) -> Endpoint | None:
    ref = getattr(props, "ServerReference", None) if props is not None else None
    if not isinstance(ref, str):
        return None
    return parse_server_reference(ref, endpoint)


class MqttLink:
    """An open connection: publish, subscribe, receive. Built by :func:`connect`."""

    def __init__(self, client: aiomqtt.Client, endpoint: Endpoint) -> None:
        self._client = client
        self.endpoint = endpoint
        #: The broker's Receive Maximum (v5), or ``None``.
        self.receive_maximum: int | None = None
        #: The broker's Maximum Packet Size (v5), or ``None`` when it announced none.
        self.maximum_packet_size: int | None = None
        self.disconnect_reason: str = ""
        #: The last socket error paho reported (it logs these rather than raising them).
        self.socket_error: str = ""
        self.disconnect_redirect: Endpoint | None = None

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: Any = None,
        within: float = math.inf,
    ) -> None:
        """Publish; for QoS 1 returns on PUBACK. Raises :class:`ConnectionLost`."""
        try:
            await self._client.publish(
                topic, payload, qos=qos, retain=retain, properties=properties, timeout=within
            )
        except aiomqtt.MqttError as exc:
            raise ConnectionLost(f"publish failed: {exc}", self.disconnect_redirect) from None

    async def subscribe(self, topic_filter: str, qos: int = 1, within: float = 10.0) -> bool:
        """Subscribe; ``False`` when the broker refused the filter (SUBACK failure code)."""
        try:
            granted = await self._client.subscribe(topic_filter, qos=qos, timeout=within)
        except aiomqtt.MqttError as exc:
            raise ConnectionLost(f"subscribe failed: {exc}", self.disconnect_redirect) from None
        return all(_reason_value(g) < 0x80 for g in granted)

    async def messages(self) -> AsyncIterator[aiomqtt.Message]:
        """Incoming messages until the connection ends (then :class:`ConnectionLost`)."""
        try:
            async for message in self._client.messages:
                yield message
        except aiomqtt.MqttError as exc:
            reason = self.disconnect_reason or str(exc.__cause__ or exc)
            raise ConnectionLost(reason, self.disconnect_redirect) from None
        raise ConnectionLost("message stream ended", self.disconnect_redirect)


def _classify_oserror(text: str) -> FailureKind:
    low = text.lower()
    if any(m in low for m in _TLS_MARKERS):
        return "tls"
    if "timed out" in low:
        return "timeout"
    return "network"


@asynccontextmanager
async def connect(params: ConnectParams) -> AsyncIterator[MqttLink]:
    """Open a connection; raises :class:`ConnectFailed`. Leaving the block disconnects cleanly
    (no Last Will) when the connection is still up."""
    ep = params.endpoint
    will = None
    connect_props = None
    if params.will_topic is not None:
        will_props = None
        if params.mqtt5 and params.will_delay > 0:
            # The will waits for the delay or the end of the session, whichever comes
            # first, so the session must outlive the delay.
            will_props = _properties(PacketTypes.WILLMESSAGE, WillDelayInterval=params.will_delay)
            connect_props = _properties(
                PacketTypes.CONNECT, SessionExpiryInterval=params.will_delay
            )
        will = aiomqtt.Will(
            params.will_topic, params.will_payload, qos=1, retain=True, properties=will_props
        )
    client = aiomqtt.Client(
        ep.host,
        ep.port,
        username=params.username,
        password=params.password,
        identifier=params.client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if params.mqtt5 else aiomqtt.ProtocolVersion.V311,
        will=will,
        clean_session=None if params.mqtt5 else True,
        # A delayed will is cancelled only by resuming the same session, so with a delay
        # the session is resumed (it expires after the delay); otherwise start clean.
        clean_start=(params.will_delay == 0) if params.mqtt5 else MQTT_CLEAN_START_FIRST_ONLY,
        keepalive=params.keepalive,
        timeout=params.connect_timeout,
        max_inflight_messages=0,
        tls_context=params.tls_context,
        properties=connect_props,
    )
    # The uplink bounds its window itself; silence aiomqtt's per-publish warning.
    client.pending_calls_threshold = 1 << 30
    client._client.connect_timeout = params.connect_timeout
    link = MqttLink(client, ep)
    _hook_callbacks(client, link)
    try:
        await _open(client, link, params)
    except BaseException:
        _abandon(client)
        raise
    try:
        yield link
    finally:
        with anyio.move_on_after(params.connect_timeout, shield=True):
            with contextlib.suppress(aiomqtt.MqttError):  # already gone: nothing to close
                await client.__aexit__(None, None, None)
        _abandon(client)


def _abandon(client: aiomqtt.Client) -> None:
    """Release a failed or finished client's socket without racing aiomqtt's callbacks.

    paho asks aiomqtt to watch its socket through ``call_soon_threadsafe`` (also from the
    connect thread), so a registration may still be queued when a connect fails. Closing
    the socket at once would free its descriptor number for the next connection while the
    stale registration is still to run. Instead, no new registrations are accepted and the
    socket is closed by a callback queued behind any pending ones.
    """
    paho = client._client
    for hook in (
        "on_connect",
        "on_disconnect",
        "on_message",
        "on_publish",
        "on_subscribe",
        "on_log",
        "on_socket_open",
        "on_socket_register_write",
        "on_socket_unregister_write",
    ):
        setattr(paho, hook, None)
    sock: Any = paho._sock
    if sock is None:
        return
    loop = client._loop

    def close() -> None:
        with contextlib.suppress(Exception):
            fd = sock.fileno()
            if fd >= 0:
                loop.remove_writer(fd)
        with contextlib.suppress(Exception):
            paho._sock_close()  # aiomqtt's on_socket_close removes the reader

    loop.call_soon_threadsafe(close)


async def _open(client: aiomqtt.Client, link: MqttLink, params: ConnectParams) -> None:
    ep = params.endpoint
    try:
        # aiomqtt bounds the CONNACK wait; this bounds TCP connect and TLS handshake too.
        with anyio.fail_after(params.connect_timeout * 2):
            await client.__aenter__()
    except TimeoutError:
        raise ConnectFailed("timeout", f"no CONNACK from {ep} within the timeout") from None
    except MqttConnectError as exc:
        raise _connack_failure(exc, link, ep) from None
    except aiomqtt.MqttError as exc:
        text = str(exc)
        if "timed out" in text.lower() and link.disconnect_reason == "":
            raise ConnectFailed("timeout", f"no CONNACK from {ep} within the timeout") from None
        reason = link.disconnect_reason or text
        raise ConnectFailed(_classify_oserror(reason), f"{ep}: {reason}") from None


def _connack_failure(exc: MqttConnectError, link: MqttLink, ep: Endpoint) -> ConnectFailed:
    code = _reason_value(exc.rc)
    text = f"{ep} refused the connection: {exc}"
    if code in AUTH_CODES:
        return ConnectFailed("auth", text)
    if code in PROTOCOL_CODES:
        return ConnectFailed(
            "protocol", text + ' (set uplink.mqtt_version = "3.1.1" for this broker)'
        )
    if code in REDIRECT_CODES and link.disconnect_redirect is not None:
        return ConnectFailed("redirect", text, link.disconnect_redirect)
    return ConnectFailed("refused", text)


def _hook_callbacks(client: aiomqtt.Client, link: MqttLink) -> None:
    """Capture CONNACK/DISCONNECT properties and fail a connect closed before its CONNACK."""
    paho = client._client
    loop = client._loop
    on_connect: Any = paho.on_connect
    on_disconnect: Any = paho.on_disconnect

    def connect_hook(c: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if props is not None:
            rm = getattr(props, "ReceiveMaximum", None)
            if isinstance(rm, int):
                link.receive_maximum = rm
            mps = getattr(props, "MaximumPacketSize", None)
            if isinstance(mps, int):
                link.maximum_packet_size = mps
        if _reason_value(rc) in REDIRECT_CODES:
            link.disconnect_redirect = _server_reference(props, link.endpoint)
        on_connect(c, userdata, flags, rc, props)

    def disconnect_hook(c: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        code = _reason_value(rc)
        link.disconnect_reason = f"disconnected: {rc} (code {code})"
        if link.socket_error:  # the cause paho only logs (e.g. a TLS alert from the broker)
            link.disconnect_reason += f": {link.socket_error}"
        if code in REDIRECT_CODES:
            link.disconnect_redirect = _server_reference(props, link.endpoint)
        connected = client._connected
        if not connected.done():  # closed before CONNACK: fail the connect now

            def fail() -> None:
                if not connected.done() and client._connected is connected:
                    connected.set_exception(
                        aiomqtt.MqttError(f"connection closed before CONNACK ({rc})")
                    )

            loop.call_soon_threadsafe(fail)
        if not connected.cancelled():  # aiomqtt reads the future's exception
            on_disconnect(c, userdata, flags, rc, props)

    def log_hook(c: Any, userdata: Any, level: int, text: str) -> None:
        if level == MQTT_LOG_ERR:
            link.socket_error = text

    paho.on_connect = connect_hook
    paho.on_disconnect = disconnect_hook
    paho.on_log = log_hook
    _guard_socket_watch(client)


def _guard_socket_watch(client: aiomqtt.Client) -> None:
    """Watch paho's socket like aiomqtt does, but never a socket that is gone.

    paho asks for read/write watching from its connect thread and from callbacks, and
    aiomqtt queues the ``add_reader``/``add_writer`` with ``call_soon_threadsafe``. When the
    broker drops the connection, paho closes the socket before such a queued registration
    runs; the registration then fails on a closed descriptor or, worse, lands on the next
    connection's socket that reused the number. Here each queued registration first checks
    that the socket is still this client's and open.
    """
    paho = client._client
    loop = client._loop

    def fail(exc: Exception) -> None:
        if not client._disconnected.done():
            client._disconnected.set_exception(exc)

    def current(sock: Any) -> int:
        if paho._sock is not sock:
            return -1
        fileno: Any = getattr(sock, "fileno", None)
        try:
            return int(fileno()) if fileno is not None else -1
        except OSError:
            return -1

    def socket_open(c: Any, userdata: Any, sock: Any) -> None:
        def on_readable() -> None:
            try:
                while True:
                    c.loop_read()
                    pending = getattr(c._sock, "pending", None)
                    if pending is not None and pending() > 0:
                        continue  # TLS may hold decoded bytes the selector cannot see
                    break
            except Exception as exc:
                fail(exc)

        def register() -> None:
            fd = current(sock)
            if fd < 0:
                return
            loop.add_reader(fd, on_readable)
            client._misc_task = loop.create_task(client._misc_loop())

        loop.call_soon_threadsafe(register)

    def register_write(c: Any, userdata: Any, sock: Any) -> None:
        def on_writable() -> None:
            try:
                c.loop_write()
            except Exception as exc:
                fail(exc)

        def register() -> None:
            fd = current(sock)
            if fd >= 0:
                loop.add_writer(fd, on_writable)

        loop.call_soon_threadsafe(register)

    def unregister_write(c: Any, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            fd = sock.fileno()
            if fd >= 0:
                loop.remove_writer(fd)

    paho.on_socket_open = socket_open
    paho.on_socket_register_write = register_write
    paho.on_socket_unregister_write = unregister_write


def _properties(packet_type: int, **values: Any) -> Properties:
    props = Properties(packet_type)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props


def make_properties(**values: Any) -> Properties:
    """MQTT 5 PUBLISH properties (``ContentType``, ``CorrelationData``, ...)."""
    return _properties(PacketTypes.PUBLISH, **values)


__all__ = [
    "ConnectFailed",
    "ConnectParams",
    "ConnectionLost",
    "Message",
    "MqttLink",
    "connect",
    "make_properties",
]
