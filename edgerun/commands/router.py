"""The command router: from a message on a command topic to a driver call and a result.

The uplink delivers every message under ``<prefix>/<gateway>/cmd/+/+`` to
:meth:`CommandRouter.on_message`, which does only constant-time work (a length check and
a non-blocking put into a bounded queue), so a flood can never stall the uplink's
receive loop. One checking task then takes each message through the checks in this
order, each refusal producing a result with its reason:

``too_large`` (raw size, before parsing) → ``bad_topic`` → ``malformed`` / ``invalid``
(schema) → ``denied`` (allowlist) → ``no_expiry`` / ``expired`` / ``expiry_too_far`` →
``unknown_driver`` → ``busy`` (in-flight limit) → ``replayed`` (persistent seen-id store).

A command that passes runs as its own task under a timeout, so a slow or hung driver never
blocks other commands or readings; the driver's :class:`~edgerun.api.CommandError`
becomes a refusal with the driver's reason, any other exception ``failed`` (logged with
its traceback), the timeout ``timeout``. Results leave over a bounded queue, at most
:data:`PUBLISH_CONCURRENCY` awaiting their acknowledgement at once, each publish under
:data:`PUBLISH_TIMEOUT`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream

from edgerun.api import CommandError, Driver
from edgerun.commands.config import CommandsConfig
from edgerun.commands.message import Command, Refusal, Result, decode_command, encode_result
from edgerun.commands.message import peek_id as _peek_id
from edgerun.commands.mqtt5 import Incoming, incoming, result_properties
from edgerun.commands.seen import SeenIds
from edgerun.commands.stats import CommandStats
from edgerun.commands.topics import CommandTopics, TopicError

log = logging.getLogger("edgerun.commands")

#: A result publish waits for the broker's PUBACK. 10 s covers a slow uplink; past that
#: the link is down and the result is counted as lost rather than holding up later ones.
PUBLISH_TIMEOUT = 10.0

#: Results awaiting their PUBACK at once; matches the uplink's own QoS 1 window (16).
PUBLISH_CONCURRENCY = 16

Handler = Callable[[Any], Awaitable[None]]


class CommandTransport(Protocol):
    """The two uplink methods the router needs (``edgerun.uplink.Uplink`` has both)."""

    def subscribe(self, topic_filter: str, handler: Handler) -> None: ...

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: Any = None,
    ) -> None: ...


DriverLookup = Callable[[str], "Driver[Any] | None"]


class _Outgoing:
    __slots__ = ("correlation", "payload", "result", "topic")

    def __init__(self, topic: str, payload: bytes, correlation: bytes | None, result: Result):
        self.topic = topic
        self.payload = payload
        self.correlation = correlation
        self.result = result


class CommandRouter:
    """Routes commands to drivers; run it with :meth:`run` in the supervisor's task group.

    :param config: the ``[commands]`` table.
    :param topics: this gateway's command topics.
    :param transport: the uplink (``subscribe`` + ``publish``).
    :param drivers: driver instances by name, or a lookup function returning ``None`` for
        an unknown name.
    :param seen: the replay store (usually ``<data_dir>/commands/seen.db``).
    :param now_ms: the wall clock in ms since the epoch (for expiry).
    """

    def __init__(
        self,
        config: CommandsConfig,
        topics: CommandTopics,
        transport: CommandTransport,
        drivers: Mapping[str, Driver[Any]] | DriverLookup,
        seen: SeenIds,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self.topics = topics
        self.transport = transport
        self._lookup: DriverLookup = drivers.get if isinstance(drivers, Mapping) else drivers
        self.seen = seen
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._stats = CommandStats()
        self._send_in, self._recv_in = anyio.create_memory_object_stream[Incoming](
            config.max_pending
        )
        self._send_out, self._recv_out = anyio.create_memory_object_stream[_Outgoing](
            config.max_pending
        )

    # ------------------------------------------------------------------ entry points

    def stats(self) -> CommandStats:
        """A copy of the counters."""
        return self._stats.snapshot()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, then check, run and answer commands until cancelled."""
        self.transport.subscribe(self.topics.command_filter, self.on_message)
        log.info(
            "accepting commands on %s (%d allow rules)",
            self.topics.command_filter,
            len(self.config.allow),
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._publisher, self._recv_out)
                task_status.started()
                await self._checker(self._recv_in, tg)
        finally:
            self.seen.close()

    async def on_message(self, message: Any) -> None:
        """The uplink's handler: never blocks, never raises."""
        self._stats.received += 1
        try:
            item = incoming(message)
            if item.size > self.config.max_payload:
                # Keep the size only: the bytes are never parsed nor held in the queue.
                item = item.without_payload()
            self._send_in.send_nowait(item)
        except anyio.WouldBlock:
            self._stats.overflow += 1
            if self._stats.overflow in (1, 10, 100) or self._stats.overflow % 1000 == 0:
                log.warning(
                    "command queue full: %d messages dropped without a result so far",
                    self._stats.overflow,
                )
        except Exception:
            log.exception("unreadable command message dropped")
            self._stats.overflow += 1

    # ------------------------------------------------------------------ checking

    async def _checker(
        self, stream: MemoryObjectReceiveStream[Incoming], tg: anyio.abc.TaskGroup
    ) -> None:
        async with stream:
            async for item in stream:
                try:
                    await self._check(item, tg)
                except Exception:  # a bug must not stop the command path
                    log.exception("command check failed")
                    self._answer(item, Result(None, False, "failed", "internal error"))

    async def _check(self, item: Incoming, tg: anyio.abc.TaskGroup) -> None:
        oversized = item.size > self.config.max_payload
        try:
            driver_name, target = self.topics.parse(item.topic)
        except TopicError as exc:
            refusal = self._too_large(item) if oversized else Refusal("bad_topic", str(exc))
            self._refuse(item, None, refusal)
            return
        where = {"driver": driver_name, "target": target}
        if oversized:
            self._refuse(item, None, self._too_large(item), **where)
            return
        try:
            cmd = decode_command(item.payload)
        except Refusal as refusal:
            self._refuse(item, _peek_id(item.payload), refusal, **where)
            return
        try:
            self._admit(cmd, driver_name, target)
            driver = self._lookup(driver_name)
            if driver is None:
                raise Refusal("unknown_driver", f"no running driver instance {driver_name!r}")
            if self._stats.inflight >= self.config.max_inflight:
                raise Refusal("busy", f"{self.config.max_inflight} commands are already running")
            fresh = await self._remember(cmd.id)
            if not fresh:
                raise Refusal("replayed", f"command id {cmd.id!r} was already accepted")
        except Refusal as refusal:
            self._refuse(item, cmd.id, refusal, **where, action=cmd.action)
            return
        self._stats.inflight += 1
        log.info("command %s: %s %s/%s %s", cmd.id, cmd.action, driver_name, target, cmd.args)
        tg.start_soon(self._execute, item, cmd, driver, driver_name, target)

    async def _remember(self, command_id: str) -> bool:
        """Record the id; a store that cannot be written refuses the command (fail closed)."""
        try:
            return await anyio.to_thread.run_sync(self.seen.add, command_id, self._now_ms())
        except Exception as exc:
            log.error("replay store unusable: %s", exc)
            raise Refusal("unavailable", f"the replay store cannot record ids: {exc}") from None

    def _admit(self, cmd: Command, driver: str, target: str) -> None:
        """Allowlist and expiry; raises :class:`Refusal`."""
        if not self.config.allows(driver, target, cmd.action):
            raise Refusal(
                "denied", f"action {cmd.action!r} on {driver}/{target} is not allowlisted"
            )
        now = self._now_ms()
        if cmd.expires_at is None:
            if self.config.require_expiry:
                raise Refusal("no_expiry", "commands must carry expires_at")
            return
        if cmd.expires_at <= now:
            raise Refusal("expired", f"expired {now - cmd.expires_at} ms ago")
        if cmd.expires_at - now > self.config.max_expiry * 1000:
            raise Refusal(
                "expiry_too_far",
                f"expires_at lies more than {self.config.max_expiry:g} s in the future",
            )

    def _too_large(self, item: Incoming) -> Refusal:
        return Refusal(
            "too_large",
            f"payload of {item.size} bytes exceeds {int(self.config.max_payload)} bytes",
        )

    # ------------------------------------------------------------------ running

    async def _execute(
        self, item: Incoming, cmd: Command, driver: Driver[Any], driver_name: str, target: str
    ) -> None:
        where = {"driver": driver_name, "target": target, "action": cmd.action}
        self._stats.executed += 1
        try:
            with anyio.fail_after(self.config.timeout):
                value = await driver.command(target, cmd.action, dict(cmd.args))
            result = Result(cmd.id, True, value=value, **where)
        except CommandError as exc:
            result = Result(cmd.id, False, exc.reason, str(exc), **where)
        except TimeoutError:
            result = Result(
                cmd.id, False, "timeout", f"no result within {self.config.timeout:g} s", **where
            )
        except Exception as exc:
            log.exception("driver %s failed on command %s", driver_name, cmd.id)
            result = Result(cmd.id, False, "failed", f"{type(exc).__name__}: {exc}"[:200], **where)
        finally:
            self._stats.inflight -= 1
        self._answer(item, result)

    # ------------------------------------------------------------------ answering

    def _refuse(
        self, item: Incoming, command_id: str | None, refusal: Refusal, **where: str
    ) -> None:
        self._answer(item, Result(command_id, False, refusal.reason, refusal.message, **where))

    def _answer(self, item: Incoming, result: Result) -> None:
        outcome = "ok" if result.ok else (result.reason or "failed")
        self._stats.by_result[outcome] += 1
        log_level = logging.INFO if result.ok else logging.WARNING
        log.log(
            log_level,
            "command %s on %s/%s: %s%s",
            result.id,
            result.driver,
            result.target,
            outcome,
            f" ({result.message})" if result.message else "",
        )
        topic = self._result_topic(item, result)
        payload = encode_result(result, self._now_ms())
        try:
            self._send_out.send_nowait(_Outgoing(topic, payload, item.correlation, result))
        except anyio.WouldBlock:
            self._stats.results_lost += 1
            log.warning("result of command %s lost: result queue full", result.id)

    def _result_topic(self, item: Incoming, result: Result) -> str:
        if item.response_topic is not None:
            try:
                self.topics.check_response_topic(item.response_topic)
                return item.response_topic
            except TopicError as exc:
                log.warning("command %s: %s; answering on the default topic", result.id, exc)
        if result.driver and result.target:
            return self.topics.result_topic(result.driver, result.target)
        return self.topics.result_topic("_", "_")

    async def _publisher(self, stream: MemoryObjectReceiveStream[_Outgoing]) -> None:
        # Up to PUBLISH_CONCURRENCY results await their PUBACK at once: one slow
        # acknowledgement must not hold up every later result.
        slots = anyio.Semaphore(PUBLISH_CONCURRENCY)
        async with stream, anyio.create_task_group() as tg:
            async for out in stream:
                await slots.acquire()
                tg.start_soon(self._publish, out, slots)

    async def _publish(self, out: _Outgoing, slots: anyio.Semaphore) -> None:
        try:
            with anyio.fail_after(PUBLISH_TIMEOUT):
                await self.transport.publish(
                    out.topic,
                    out.payload,
                    qos=self.config.result_qos,
                    retain=False,
                    properties=result_properties(out.correlation),
                )
            self._stats.results_published += 1
        except Exception as exc:  # the uplink is down or refused: count, go on
            self._stats.results_lost += 1
            log.warning(
                "result of command %s not delivered to %s: %s",
                out.result.id,
                out.topic,
                exc or type(exc).__name__,
            )
        finally:
            slots.release()

    async def aclose(self) -> None:
        """Close the queues (the run task ends when they drain)."""
        await self._send_in.aclose()
        await self._send_out.aclose()


def build_router(
    config: CommandsConfig,
    *,
    gateway_id: str,
    data_dir: Path,
    uplink_prefix: str,
    transport: CommandTransport,
    drivers: Mapping[str, Driver[Any]] | DriverLookup,
) -> CommandRouter:
    """The router as the supervisor builds it: topics from the gateway id and the
    ``[commands]`` or ``[uplink]`` prefix, the replay store at
    ``<data_dir>/commands/seen.db``."""
    topics = CommandTopics((config.topic_prefix or uplink_prefix).rstrip("/"), gateway_id)
    seen = SeenIds(data_dir / "commands" / "seen.db", config.seen_ids, config.seen_ttl)
    return CommandRouter(config, topics, transport, drivers, seen)


__all__ = ["PUBLISH_TIMEOUT", "CommandRouter", "CommandTransport", "DriverLookup", "build_router"]
