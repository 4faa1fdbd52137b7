"""The uplink: leases batches from the queue and ships them to the broker, forever.

One :class:`Uplink` per gateway, run by the supervisor. Its loop connects (random start in
the URL list, fail-over, redirects), publishes the retained ``online`` status, restores
extra subscriptions, then runs three tasks until the connection ends:

- the *pump* leases batches and publishes each at QoS 1 in its own task, keeping at most
  ``inflight`` batches unacknowledged (fewer for backlog, so live data finds room); a batch
  is acked to the queue only on its PUBACK;
- the *reader* dispatches incoming messages to subscription handlers and notices a lost
  connection at once;
- the *heartbeat* publishes queue depth and backlog age periodically.

When the connection ends, every unacknowledged batch goes back to the queue (newest first,
so the queue holds them in their original order) and is redelivered after the reconnect:
at-least-once, first-delivery order kept; the datacenter dedupes on (gateway, reading id).
Between attempts it sleeps a capped exponential backoff with full jitter. Cancellation
publishes the retained ``offline`` status within ``offline_timeout`` (shielded) and
disconnects cleanly, so the broker does not also fire the Last Will.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import msgspec

from edgerun.config.model import GatewayConfig
from edgerun.payload import Encoder
from edgerun.queue.base import Batch, ReadingQueue
from edgerun.uplink.backoff import Backoff
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.endpoints import Endpoint, Endpoints
from edgerun.uplink.mqtt import ConnectFailed, ConnectionLost, ConnectParams, MqttLink, connect
from edgerun.uplink.stats import UplinkStats
from edgerun.uplink.status import StatusBuilder
from edgerun.uplink.tls import TlsSetupError, load_context
from edgerun.uplink.window import Window

log = logging.getLogger("edgerun.uplink")

Handler = Callable[[Any], Awaitable[None]]

#: Redirects followed in a row before the backoff applies again (a redirect loop between
#: two misconfigured nodes must not become a busy loop).
MAX_REDIRECTS_IN_A_ROW = 3
#: Bytes of a PUBLISH packet besides topic and payload (fixed header, packet id, v5
#: properties length), for checking the broker's maximum packet size.
PACKET_OVERHEAD = 16
#: Subscribe calls wait this long for their SUBACK; a broker silent for 10 s on a SUBSCRIBE
#: is treated like a dead connection (the session restarts and subscribes again).
SUBACK_TIMEOUT = 10.0


class Uplink:
    """Queue -> MQTT, with status, heartbeat, extra subscriptions and command publishing."""

    def __init__(
        self,
        config: UplinkConfig,
        gateway: GatewayConfig,
        queue: ReadingQueue,
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.config = config
        self.gateway = gateway
        self.queue = queue
        prefix = config.topic_prefix.rstrip("/")
        self.data_topic = f"{prefix}/{gateway.id}/data"
        self.status_topic = f"{prefix}/{gateway.id}/status"
        self.heartbeat_topic = f"{prefix}/{gateway.id}/heartbeat"
        self.client_id = config.client_id or f"edgerun-{gateway.id}"
        self.encoder = Encoder(
            gateway.id,
            gateway.tenant,
            encoding=config.encoding,
            compression=config.compression,
            level=config.compression_level,
        )
        self.endpoints = Endpoints(config.urls)
        self.backoff = Backoff(config.backoff_base, config.backoff_cap)
        self.window = Window(config.inflight, config.backlog_window)
        self._status = StatusBuilder(gateway.id, status)
        self._stats = UplinkStats()
        self._subs: list[tuple[str, Handler]] = []
        self._inflight: dict[int, Batch] = {}
        self._link: MqttLink | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._link_changed = anyio.Event()
        self._end: ConnectionLost | None = None

    # ----------------------------------------------------------------- public API
    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Deliver messages matching ``topic_filter`` to ``handler``, after every connect."""
        self._subs.append((topic_filter, handler))
        if self._link is not None and self._tg is not None:
            self._tg.start_soon(self._guard, self._subscribe_one, self._link, topic_filter)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: Any = None,
    ) -> None:
        """Publish (command results): waits for a connection and retries after a drop.

        Bound the wait with a cancel scope. ``properties`` (paho ``Properties``) are sent
        with MQTT 5 only.
        """
        if self.config.mqtt_version != "5":
            properties = None
        while True:
            link = self._link
            if link is None:
                await self._link_changed.wait()
                continue
            try:
                await link.publish(
                    topic, payload, qos, retain, properties, within=self.config.puback_timeout
                )
                return
            except ConnectionLost:
                while self._link is link:
                    await self._link_changed.wait()

    def stats(self) -> UplinkStats:
        st = self._stats
        st.inflight = self.window.inflight
        st.inflight_hist = self.window.inflight_hist
        return st.snapshot()

    # ------------------------------------------------------------------ main loop
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, ship, reconnect until cancelled. Start-up never waits for the broker."""
        task_status.started()
        if not self.config.enabled:
            log.info("uplink disabled; readings stay in the queue")
            await anyio.sleep_forever()
        redirects_in_a_row = 0
        st = self._stats
        while True:
            endpoint = self.endpoints.current()
            redirected = False
            try:
                params = await self._params(endpoint)
                async with connect(params) as link:
                    self.endpoints.connected()
                    self.backoff.connected()
                    redirects_in_a_row = 0
                    if st.connects:
                        st.reconnects += 1
                    st.connects += 1
                    st.connected = True
                    st.endpoint = str(endpoint)
                    st.backoff_s = 0.0
                    log.info("uplink connected to %s as %s", endpoint, self.client_id)
                    await self._session(link)
            except ConnectFailed as exc:
                redirected = self._connect_failed(exc)
            except ConnectionLost as exc:
                # Healthy (see edgerun.uplink.backoff): the backoff starts over and the
                # same node is tried first. Otherwise it counts as a failed attempt.
                healthy = self.backoff.dropped()
                st.drops += 1
                st.last_error = str(exc)
                log.warning("uplink connection to %s lost: %s", endpoint, exc)
                if exc.redirect is not None:
                    st.redirects += 1
                    self.endpoints.redirect(exc.redirect)
                    redirected = True
                elif not healthy:
                    self.endpoints.failed()  # dropped right after connecting: next node
            except TlsSetupError as exc:
                st.tls_failures += 1
                st.last_error = str(exc)
                log.error("uplink: %s", exc)
            finally:
                st.connected = False
                self._requeue()
            if redirected and redirects_in_a_row < MAX_REDIRECTS_IN_A_ROW:
                redirects_in_a_row += 1
                continue
            delay = self.backoff.next_delay()
            st.backoff_s = delay
            log.debug("uplink: next connect attempt in %.2f s", delay)
            await anyio.sleep(delay)

    def _connect_failed(self, exc: ConnectFailed) -> bool:
        """Count and log a failed attempt; ``True`` when it was a redirect."""
        st = self._stats
        st.last_error = exc.reason
        if exc.kind == "redirect" and exc.redirect is not None:
            st.redirects += 1
            log.info("uplink redirected to %s: %s", exc.redirect, exc.reason)
            self.endpoints.redirect(exc.redirect)
            return True
        if exc.kind == "auth":
            st.auth_failures += 1
            log.error(
                "uplink authentication failed: %s (check uplink.username / uplink.password "
                "and the broker's ACL)",
                exc.reason,
            )
        elif exc.kind == "tls":
            st.tls_failures += 1
            log.error("uplink TLS failure: %s (check uplink.ca_file and the URL's host)", exc)
        elif exc.kind == "protocol":
            st.protocol_failures += 1
            log.error("uplink: %s", exc.reason)
        else:
            st.network_failures += 1
            log.warning("uplink cannot connect: %s", exc.reason)
        self.endpoints.failed()
        return False

    async def _params(self, endpoint: Endpoint) -> ConnectParams:
        cfg = self.config
        tls = await load_context(cfg) if endpoint.tls else None
        return ConnectParams(
            endpoint=endpoint,
            client_id=self.client_id,
            keepalive=max(1, int(cfg.keepalive)),
            connect_timeout=float(cfg.connect_timeout),
            mqtt5=cfg.mqtt_version == "5",
            username=cfg.username,
            password=cfg.password.value if cfg.password is not None else None,
            will_topic=self.status_topic,
            will_payload=self._status.will(),
            will_delay=int(cfg.will_delay),
            tls_context=tls,
        )

    def _requeue(self) -> None:
        """Return every unacknowledged batch to the queue, newest first."""
        batches = list(self._inflight.values())
        self._inflight.clear()
        for batch in reversed(batches):
            self.queue.nack(batch)
        self._stats.batches_redelivered += len(batches)
        self.window.reset()

    # -------------------------------------------------------------------- session
    async def _session(self, link: MqttLink) -> None:
        cfg = self.config
        try:
            size = min(cfg.inflight, link.receive_maximum or cfg.inflight)
            self.window = Window(size, min(cfg.backlog_window, max(1, size - 1)))
            self._end = None
            async with anyio.create_task_group() as tg:
                self._tg = tg
                # The reader first: a connection lost during start-up is noticed at once.
                tg.start_soon(self._guard, self._reader, link)
                tg.start_soon(self._guard, self._start_session, link)
            if self._end is not None:
                raise self._end
        except anyio.get_cancelled_exc_class():
            self._set_link(None)
            with anyio.move_on_after(cfg.offline_timeout, shield=True):
                with contextlib.suppress(ConnectionLost):  # else the Last Will covers it
                    await link.publish(
                        self.status_topic,
                        self._status.status("offline", "shutdown"),
                        qos=1,
                        retain=True,
                    )
            raise
        finally:
            self._tg = None
            self._set_link(None)

    async def _start_session(self, link: MqttLink) -> None:
        """Birth message, subscriptions, then the pump and the heartbeat."""
        cfg = self.config
        tg = self._tg
        assert tg is not None
        self._set_link(link)
        await link.publish(
            self.status_topic,
            self._status.status("online"),
            qos=1,
            retain=True,
            within=cfg.puback_timeout,
        )
        self.backoff.proved()
        for topic_filter, _ in list(self._subs):
            await self._subscribe_one(link, topic_filter)
        tg.start_soon(self._guard, self._pump, link)
        if cfg.heartbeat_interval > 0:
            tg.start_soon(self._guard, self._heartbeat, link)

    def _set_link(self, link: MqttLink | None) -> None:
        if self._link is link:
            return
        self._link = link
        self._link_changed.set()
        self._link_changed = anyio.Event()

    async def _guard(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run a session task; the first ConnectionLost (or unexpected error) ends the session."""
        try:
            await fn(*args)
        except ConnectionLost as exc:
            self._end_session(exc)
        except Exception as exc:
            # A bug or a failing queue must not take the gateway down: end the session, put
            # the in-flight batches back and retry after the backoff.
            log.exception("uplink: %s failed; reconnecting", getattr(fn, "__name__", fn))
            self._end_session(ConnectionLost(f"internal error: {exc!r}"))

    def _end_session(self, exc: ConnectionLost) -> None:
        if self._end is None:
            self._end = exc
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def _subscribe_one(self, link: MqttLink, topic_filter: str) -> None:
        if not await link.subscribe(topic_filter, qos=1, within=SUBACK_TIMEOUT):
            log.error("uplink: the broker refused the subscription %r", topic_filter)

    async def _reader(self, link: MqttLink) -> None:
        async for message in link.messages():
            for topic_filter, handler in self._subs:
                if message.topic.matches(topic_filter) and self._tg is not None:
                    self._tg.start_soon(self._dispatch, handler, message)

    @staticmethod
    async def _dispatch(handler: Handler, message: Any) -> None:
        try:
            await handler(message)
        except Exception:
            log.exception("uplink: handler for %s failed", message.topic)

    async def _heartbeat(self, link: MqttLink) -> None:
        while True:
            await anyio.sleep(self.config.heartbeat_interval)
            payload = self._status.heartbeat(self.queue.stats(), self.window.inflight)
            await link.publish(self.heartbeat_topic, payload, qos=0)
            self._stats.heartbeats += 1

    async def _pump(self, link: MqttLink) -> None:
        cfg = self.config
        window = self.window
        assert self._tg is not None
        tg = self._tg
        last_hist = False
        while True:
            await window.wait_room(False)
            if last_hist and not window.has_room(True):
                # The backlog has its share of the window in flight. Wait for one of its
                # PUBACKs (the usual case: the next lease then returns live readings first
                # if any arrived) but no longer than flush_interval, so live readings
                # still go out through the free slots when PUBACKs are slow.
                with anyio.move_on_after(cfg.flush_interval):
                    await window.wait_room(True)
            batch = await self.queue.lease(
                cfg.max_batch_readings, cfg.max_batch_bytes, cfg.flush_interval
            )
            last_hist = batch.hist
            if batch.hist and not window.has_room(True):
                # No live reading is waiting (the queue leases those first) and the
                # backlog's share is still in flight: hand the batch back, look again.
                self.queue.nack(batch)
                self._stats.backlog_deferrals += 1
                continue
            self._inflight[batch.lease_id] = batch
            try:
                payload = self.encoder.encode_blob(batch.count, batch.rows_blob(), batch.hist)
                parts = self._parts(link, batch, payload)
            except (TypeError, ValueError) as exc:
                # Rows that cannot be encoded (a corrupt stored blob): drop, count, go on.
                del self._inflight[batch.lease_id]
                self.queue.ack(batch)
                self._stats.readings_unencodable += batch.count
                log.error(
                    "uplink: dropped %d readings that cannot be encoded: %s", batch.count, exc
                )
                continue
            window.add(batch.hist)
            shipment = _Shipment(batch, len(parts), sum(map(len, parts)), time.monotonic())
            for part in parts:
                tg.start_soon(self._guard, self._ship, link, shipment, part)

    def _parts(self, link: MqttLink, batch: Batch, payload: bytes) -> list[bytes]:
        """The batch's payload, split when the broker's maximum packet size requires it."""
        limit = link.maximum_packet_size
        overhead = len(self.data_topic.encode()) + PACKET_OVERHEAD
        if limit is None or len(payload) + overhead <= limit:
            return [payload]
        # Same rows, same order, several smaller batches; acked when all are acked.
        self._stats.batches_split += 1
        return self.encoder.encode_split(
            batch.count, batch.rows_blob(), batch.hist, limit - overhead
        )

    async def _ship(self, link: MqttLink, shipment: _Shipment, part: bytes) -> None:
        # The PUBLISH leaves in this task's first step, so publishes go out in the order
        # the pump started them, parts of a split batch included.
        await link.publish(self.data_topic, part, 1, within=self.config.puback_timeout)
        shipment.remaining -= 1
        if shipment.remaining:
            return
        batch = shipment.batch
        st = self._stats
        st.latencies.append(time.monotonic() - shipment.t0)
        if self._inflight.pop(batch.lease_id, None) is not None:
            self.queue.ack(batch)
        self.window.done(batch.hist)
        st.batches_published += 1
        st.readings_published += batch.count
        st.bytes_published += shipment.nbytes
        if batch.hist:
            st.hist_batches_published += 1


class _Shipment(msgspec.Struct):
    """A batch on its way: acked to the queue when all its parts are acknowledged."""

    batch: Batch
    remaining: int
    nbytes: int
    t0: float


__all__ = ["Handler", "Uplink"]
