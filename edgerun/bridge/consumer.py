"""The bridge's core loop: receive, decode, dedupe, write to every sink, then acknowledge.

One task reads the MQTT session into an inbox; one task processes the inbox in *groups*
(up to ``flush_readings`` readings or ``flush_interval`` of waiting), so a sink sees one
large write instead of one per message. A group goes through these steps in order, and a
message is acknowledged only at the end, so a crash or an outage at any step leaves it in
the broker session to be delivered again:

1. decode each data message; an undecodable one is written as a dead letter;
2. claim its reading ids in the dedupe window; ids already written are dropped and counted;
3. write the remaining readings (and gateway status changes) to every sink at once; a sink
   that is unavailable is retried with doubling delays (``retry_initial``..``retry_max``)
   while the other sinks are not written again; a batch a sink refuses is isolated by
   writing each batch on its own, and the ones still refused become dead letters;
4. commit the dedupe window, then send the PUBACKs.

Groups are processed one at a time: a redelivered copy of a message always meets the
window after its first copy was written. The connection is re-made with backoff after any
failure and every subscription is made again after each connect (a broker may have lost
the session). Subscriptions whose SUBACK does not grant QoS 1 raise the ``suback`` alarm;
``silence`` is raised when no data arrived for ``silence_alarm`` while some gateway reports
itself online — the symptom of a clustered broker that accepted ``$share`` and delivers
nothing (docs/bridge.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from edgerun.bridge.batch import ID, TS, Batch, DecodeError, decode
from edgerun.bridge.config import BridgeConfig, parse_mqtt_url
from edgerun.bridge.deadletter import DeadLetters
from edgerun.bridge.dedupe import DedupeStore
from edgerun.bridge.mqtt import Incoming, Session, SubscribeRefused
from edgerun.bridge.sinks.base import GatewayStatus, Sink, SinkRejected, SinkUnavailable
from edgerun.bridge.status import Fleet, StatusError

log = logging.getLogger("edgerun.bridge")


#: Attempts after an unexpected exception from a sink before its data counts as refused.
BUG_RETRIES = 3


@dataclass(slots=True)
class _SinkStats:
    errors: int = 0
    batches_written: int = 0
    readings_written: int = 0
    retries: int = 0
    rejected_batches: int = 0
    write_seconds_sum: float = 0.0
    write_seconds_max: float = 0.0
    writes: int = 0
    available: bool = True
    last_error: str = ""


@dataclass(slots=True)
class _Item:
    msg: Incoming
    kind: str  # data | status | heartbeat | other
    gateway: str
    batch: Batch | None = None


@dataclass(slots=True)
class _Group:
    items: list[_Item] = field(default_factory=list)
    readings: int = 0
    statuses: list[GatewayStatus] = field(default_factory=list)


class Bridge:
    """Consumes gateway batches and writes them to the configured sinks."""

    def __init__(
        self,
        config: BridgeConfig,
        sinks: Sequence[Sink],
        dedupe: DedupeStore,
        dead_letters: DeadLetters,
    ) -> None:
        self.config = config
        self.sinks = list(sinks)
        self.dedupe = dedupe
        self.dead = dead_letters
        self.fleet = Fleet(config.bridge.offline_after)
        m = config.mqtt
        self.prefix = m.topic_prefix.rstrip("/")
        data = f"{self.prefix}/+/data"
        self.topics = [
            f"$share/{m.share_group}/{data}" if m.share_group else data,
            f"{self.prefix}/+/status",
            f"{self.prefix}/+/heartbeat",
        ]
        self._inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self._session: Session | None = None
        self._generation = 0
        self._sink_stats = {s.name: _SinkStats() for s in self.sinks}
        self.connected = asyncio.Event()
        self.subscribed = False
        self.alarms: dict[str, str] = {}
        self._last_data = time.monotonic()
        self._since_subscribe = time.monotonic()
        self._last_status_write = 0.0
        self._last_rx = time.monotonic()
        self._busy = False
        # counters
        self.messages = 0
        self.data_messages = 0
        self.status_messages = 0
        self.heartbeats = 0
        self.readings_in = 0
        self.readings_written = 0
        self.duplicates = 0
        self.bad_rows = 0
        self.acks = 0
        self.stale_acks = 0
        self.connects = 0
        self.connect_failures = 0
        self.groups = 0
        self.lag_seconds = 0.0
        self.gateway_topic_mismatch = 0

    # ---------------------------------------------------------------- connection

    async def run(self) -> None:
        """Run until cancelled."""
        for s in self.sinks:
            await s.open()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._connection_loop())
                tg.create_task(self._process_loop())
        finally:
            for s in self.sinks:
                with contextlib.suppress(Exception):
                    await s.close()
            self.dedupe.close()

    def _new_session(self, session_expiry: float) -> Session:
        m = self.config.mqtt
        host, port, tls = parse_mqtt_url(m.url)
        self._generation += 1
        return Session(
            host,
            port,
            m.client_id,
            tls=tls,
            username=m.username,
            password=m.password.value if m.password is not None else None,
            session_expiry=session_expiry,
            receive_maximum=m.receive_maximum,
            keepalive=m.keepalive,
            generation=self._generation,
        )

    async def retire(self, idle: float = 2.0) -> int:
        """Drain this replica's session and end it; returns the messages processed.

        A persistent member of a shared subscription keeps receiving its share while it is
        offline (mosquitto queues it in the session until the session expires), so a
        replica that is removed for good must be retired: connect with its client id and a
        session expiry of 0, unsubscribe (no new messages), write and acknowledge what is
        queued, and disconnect once nothing arrived for ``idle`` seconds - the broker then
        deletes the session. A connection failure raises (retire again).
        """
        for s in self.sinks:
            await s.open()
        try:
            async with asyncio.TaskGroup() as tg:
                conn = tg.create_task(self._retire_connection())
                proc = tg.create_task(self._process_loop())
                await self.connected.wait()
                while not (
                    self._inbox.empty()
                    and not self._busy
                    and time.monotonic() - self._last_rx >= idle
                ):
                    if conn.done():
                        break
                    await asyncio.sleep(0.05)
                proc.cancel()
                conn.cancel()
        finally:
            for s in self.sinks:
                with contextlib.suppress(Exception):
                    await s.close()
            self.dedupe.close()
        return self.messages

    async def _retire_connection(self) -> None:
        session = self._new_session(0)
        async with session:
            self.connects += 1
            self._session = session
            self.dead.publisher = session.publish
            await session.unsubscribe(self.topics)
            self._last_rx = time.monotonic()
            self.connected.set()
            log.info("retiring %s: draining its session", self.config.mqtt.client_id)
            async for msg in session.messages():
                self._last_rx = time.monotonic()
                self._inbox.put_nowait(msg)

    async def _connection_loop(self) -> None:
        m = self.config.mqtt
        delay = float(self.config.bridge.retry_initial)
        while True:
            session = self._new_session(m.session_expiry)
            try:
                async with session:
                    self.connects += 1
                    self._session = session
                    self.dead.publisher = session.publish
                    try:
                        await session.subscribe(self.topics)
                    except SubscribeRefused as exc:
                        self.alarms["suback"] = str(exc)
                        log.error("%s; the bridge would receive nothing. Retrying.", exc)
                        raise
                    self.alarms.pop("suback", None)
                    self.subscribed = True
                    self._since_subscribe = time.monotonic()
                    self.connected.set()
                    log.info("subscribed to %s", ", ".join(self.topics))
                    delay = float(self.config.bridge.retry_initial)
                    async for msg in session.messages():
                        self._last_rx = time.monotonic()
                        self._inbox.put_nowait(msg)
            except (aiomqtt.MqttError, SubscribeRefused, OSError) as exc:
                self.connect_failures += 1
                log.warning("MQTT connection to %s: %s", m.url, exc)
            finally:
                self.subscribed = False
                self.connected.clear()
                self._session = None
                self.dead.publisher = None
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.config.bridge.retry_max)

    # ---------------------------------------------------------------- processing

    def _classify(self, msg: Incoming) -> _Item:
        parts = msg.topic.rsplit("/", 2)
        if len(parts) == 3 and parts[0] == self.prefix:
            return _Item(msg, parts[2], parts[1])
        return _Item(msg, "other", "")

    async def _collect(self) -> _Group | None:
        cfg = self.config.bridge
        try:
            first = await asyncio.wait_for(self._inbox.get(), 1.0)
        except TimeoutError:
            return None
        self._busy = True  # a message is out of the inbox: not drained until it is acked
        group = _Group()
        deadline = time.monotonic() + cfg.flush_interval
        msg: Incoming | None = first
        while msg is not None:
            if msg.generation == self._generation:  # else: redelivered on the new connection
                await self._admit(group, msg)
            if group.readings >= cfg.flush_readings:
                break
            try:
                msg = self._inbox.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    msg = await asyncio.wait_for(self._inbox.get(), remaining)
                except TimeoutError:
                    break
        return group

    async def _admit(self, group: _Group, msg: Incoming) -> None:
        self.messages += 1
        item = self._classify(msg)
        group.items.append(item)
        if item.kind != "data":
            return
        self.data_messages += 1
        self._last_data = time.monotonic()
        self.alarms.pop("silence", None)
        try:
            batch = decode(msg.payload, self.config.bridge.max_payload_bytes)
        except DecodeError as exc:
            await self.dead.put(msg.topic, msg.payload, exc.reason, str(exc))
            return
        if batch.bad_rows:
            self.bad_rows += len(batch.bad_rows)
            problems = sorted({p for p, _ in batch.bad_rows})
            await self.dead.put(
                msg.topic,
                msg.payload,
                "bad-rows",
                f"{len(batch.bad_rows)} rows refused ({', '.join(problems)}); the others written",
            )
        if batch.gateway != item.gateway:
            self.gateway_topic_mismatch += 1
        if (change := self.fleet.heard(batch.gateway)) is not None:
            group.statuses.append(change)
        self.readings_in += len(batch.rows)
        fresh = self.dedupe.claim(batch.gateway, [r[ID] for r in batch.rows])
        if not all(fresh):
            dup = fresh.count(False)
            self.duplicates += dup
            batch.rows = [r for r, f in zip(batch.rows, fresh, strict=True) if f]
        item.batch = batch
        group.readings += len(batch.rows)

    async def _process_loop(self) -> None:
        while True:
            try:
                await self._process_one()
            finally:
                self._busy = False

    async def _process_one(self) -> None:
        group = await self._collect()
        self._check_alarms()
        statuses: list[GatewayStatus] = []
        if group is not None:
            statuses = await self._statuses(group)
        statuses.extend(self.fleet.expire())
        now = time.monotonic()
        if now - self._last_status_write >= self.config.bridge.status_interval and len(self.fleet):
            statuses.extend(self.fleet.snapshot(int(time.time() * 1000)))
            self._last_status_write = now
        if group is None and not statuses:
            return
        await self._write_group(group or _Group(), statuses)

    async def _statuses(self, group: _Group) -> list[GatewayStatus]:
        out: list[GatewayStatus] = list(group.statuses)
        for item in group.items:
            if item.kind == "status":
                self.status_messages += 1
                try:
                    change = self.fleet.status(item.gateway, item.msg.payload)
                except StatusError as exc:
                    await self.dead.put(item.msg.topic, item.msg.payload, "bad-status", str(exc))
                    continue
                if change is not None:
                    out.append(change)
            elif item.kind == "heartbeat":
                self.heartbeats += 1
                if (change := self.fleet.heard(item.gateway)) is not None:
                    out.append(change)
            elif item.kind == "other":
                await self.dead.put(item.msg.topic, item.msg.payload, "unknown-topic")
        return out

    async def _write_group(self, group: _Group, statuses: list[GatewayStatus]) -> None:
        batches = [i.batch for i in group.items if i.batch is not None and i.batch.rows]
        if batches or statuses:
            results = await asyncio.gather(
                *(self._write_sink(s, batches, statuses) for s in self.sinks)
            )
            refused: dict[int, list[str]] = {}
            for sink, bad in zip(self.sinks, results, strict=True):
                for idx, reason in bad:
                    refused.setdefault(idx, []).append(f"{sink.name}: {reason}")
            by_batch = {id(b): i for i, b in enumerate(batches)}
            for item in group.items:
                if item.batch is not None and id(item.batch) in by_batch:
                    why = refused.get(by_batch[id(item.batch)])
                    if why:
                        await self.dead.put(
                            item.msg.topic, item.msg.payload, "rejected", "; ".join(why)
                        )
            written = sum(len(b.rows) for i, b in enumerate(batches) if i not in refused)
            self.readings_written += written
            live = [b.rows[-1][TS] for b in batches if not b.hist]
            if live:
                self.lag_seconds = max(0.0, time.time() - max(live) / 1000)
        self.dedupe.commit()
        self.groups += 1
        session = self._session
        for item in group.items:
            if item.msg.qos == 0:
                continue  # nothing to acknowledge (heartbeats are QoS 0)
            if session is not None and session.ack(item.msg):
                self.acks += 1
            else:
                self.stale_acks += 1

    async def _write_sink(
        self, sink: Sink, batches: list[Batch], statuses: list[GatewayStatus]
    ) -> list[tuple[int, str]]:
        """Write until the sink has it; returns (batch index, reason) of refused batches."""
        st = self._sink_stats[sink.name]
        refused: list[tuple[int, str]] = []
        if batches:
            try:
                await self._retrying(sink, st, lambda: sink.write(batches))
            except SinkRejected:
                for i, b in enumerate(batches):  # isolate the refused batches
                    try:
                        await self._retrying(sink, st, lambda b=b: sink.write([b]))
                    except SinkRejected as exc:
                        st.rejected_batches += 1
                        refused.append((i, str(exc)))
            st.batches_written += len(batches) - len(refused)
            st.readings_written += sum(
                len(b.rows) for i, b in enumerate(batches) if i not in {r[0] for r in refused}
            )
        if statuses:
            try:
                await self._retrying(sink, st, lambda: sink.write_status(statuses))
            except SinkRejected as exc:
                log.error("sink %s refused the gateway status series: %s", sink.name, exc)
        return refused

    async def _retrying(self, sink: Sink, st: _SinkStats, call: Any) -> None:
        """Call until it succeeds; SinkRejected propagates.

        An exception a sink should not raise (a bug, an unwrapped library error) is retried
        like an outage :data:`BUG_RETRIES` times and then treated as a refusal, so a broken
        plugin sends data to the dead letters instead of stopping the bridge or blocking the
        stream forever.
        """
        cfg = self.config.bridge
        delay = float(cfg.retry_initial)
        unexpected = 0
        while True:
            t0 = time.perf_counter()
            try:
                try:
                    await call()
                except (SinkUnavailable, SinkRejected):
                    raise
                except Exception as exc:
                    st.errors += 1
                    unexpected += 1
                    log.exception("sink %s raised %s", sink.name, type(exc).__name__)
                    if unexpected > BUG_RETRIES:
                        raise SinkRejected(f"sink error: {type(exc).__name__}: {exc}") from exc
                    raise SinkUnavailable(f"{type(exc).__name__}: {exc}") from exc
            except SinkUnavailable as exc:
                st.retries += 1
                if st.available:
                    log.warning("sink %s unavailable: %s; retrying", sink.name, exc)
                st.available = False
                st.last_error = str(exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, cfg.retry_max)
                continue
            dt = time.perf_counter() - t0
            st.writes += 1
            st.write_seconds_sum += dt
            st.write_seconds_max = max(st.write_seconds_max, dt)
            if not st.available:
                log.info("sink %s is back", sink.name)
            st.available = True
            return

    # ---------------------------------------------------------------- health

    def _check_alarms(self) -> None:
        limit = self.config.bridge.silence_alarm
        now = time.monotonic()
        quiet = now - max(self._last_data, self._since_subscribe)
        if self.subscribed and self.fleet.online() and quiet > limit:
            if "silence" not in self.alarms:
                log.error(
                    "no data for %.0f s while %d gateways report online: check the broker's "
                    "shared subscription support (docs/bridge.md)",
                    quiet,
                    self.fleet.online(),
                )
            self.alarms["silence"] = (
                f"no data for {quiet:.0f} s while {self.fleet.online()} gateways are online"
            )

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok = self.subscribed and not self.alarms
        return ok, {"subscribed": self.subscribed, "alarms": dict(self.alarms)}

    def stats(self) -> dict[str, int | float]:
        """Flat counters and gauges (names documented in docs/bridge.md)."""
        out: dict[str, int | float] = {
            "messages": self.messages,
            "data_messages": self.data_messages,
            "status_messages": self.status_messages,
            "heartbeats": self.heartbeats,
            "readings_in": self.readings_in,
            "readings_written": self.readings_written,
            "duplicates": self.duplicates,
            "bad_rows": self.bad_rows,
            "acks": self.acks,
            "stale_acks": self.stale_acks,
            "groups": self.groups,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "gateway_topic_mismatch": self.gateway_topic_mismatch,
            "inbox": self._inbox.qsize(),
            "lag_seconds": round(self.lag_seconds, 3),
            "subscribed": int(self.subscribed),
            "alarm_suback": int("suback" in self.alarms),
            "alarm_silence": int("silence" in self.alarms),
            "gateways_known": len(self.fleet),
            "gateways_online": self.fleet.online(),
        }
        out.update(self.dead.stats())
        out.update(self.dedupe.stats())
        for sink in self.sinks:
            st = self._sink_stats[sink.name]
            p = f"sink_{sink.name}_"
            out[p + "readings_written"] = st.readings_written
            out[p + "batches_written"] = st.batches_written
            out[p + "retries"] = st.retries
            out[p + "errors"] = st.errors
            out[p + "rejected_batches"] = st.rejected_batches
            out[p + "writes"] = st.writes
            out[p + "write_seconds_sum"] = round(st.write_seconds_sum, 6)
            out[p + "write_seconds_max"] = round(st.write_seconds_max, 6)
            out[p + "available"] = int(st.available)
            for k, v in sink.stats().items():
                out[p + k] = v
        return out


__all__ = ["Bridge"]
