"""The ``ble`` driver: keeps a bleak scanner running and turns advertisements into readings.

One loop owns the scanner's life: wait until BlueZ and the adapter are usable (reported
through ``ctx.set_state``), start a passive or active scan, consume the queue until the
adapter goes away or the scanner has been quiet for ``quiet_timeout``, stop the scan, and
start over with capped exponential backoff. Losing the adapter or bluetoothd is therefore a
state, not a failure: the driver calls ``ctx.started()`` after its first attempt whatever
the outcome, so a gateway booted with Bluetooth off still starts and picks the sensors up
when it comes on. Configuration problems (bad keys, conflicting decoders) raise at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, ClassVar, Literal

from edgerun.api import Driver, DriverContext
from edgerun_ble.adapter import AdapterWatch, Status
from edgerun_ble.config import BleConfig
from edgerun_ble.decoders.registry import Registry, build_registry
from edgerun_ble.pipeline import Pipeline, Policy
from edgerun_ble.scanner import (
    CALL_TIMEOUT,
    AdvertQueue,
    build_scanner,
    make_callback,
    or_patterns,
)

log = logging.getLogger("edgerun.ble")


class Backoff:
    """Capped exponential delays with ±20 % jitter (so gateways do not retry in step)."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


class BleDriver(Driver[BleConfig]):
    """Scans BLE advertisements and decodes BTHome v2, RuuviTag 5, ATC/pvvx and plugin formats."""

    config_type = BleConfig
    extra: ClassVar[str | None] = "ble"
    requires: ClassVar[tuple[str, ...]] = ("bleak", "cryptography")

    #: Plugin manager to collect decoders from; ``None`` uses the loaded one (tests set it).
    plugin_manager: Any = None

    def __init__(self, name: str, config: BleConfig) -> None:
        super().__init__(name, config)
        self.policy = Policy.from_config(config)
        self.registry: Registry | None = None

    async def run(self, ctx: DriverContext) -> None:
        config = self.config
        registry = self.registry = build_registry(self.plugin_manager)
        count = ctx.count
        pipeline = Pipeline(registry, self.policy, count)
        queue = AdvertQueue(config.queue_size, count)
        watch = AdapterWatch(config.adapter, queue.wake.set)
        callback = make_callback(queue, self.policy, ctx.now_ms, count)
        patterns = or_patterns(registry.names.values(), self.policy)
        backoff = Backoff(float(config.backoff_initial), float(config.backoff_max))
        started = False
        ctx.set_state("starting")
        try:
            while True:
                status = await self._status(watch)
                if not status.ready:
                    ctx.set_state(status.state, status.detail)
                    if not started:
                        ctx.started()
                        started = True
                    await self._wait_change(ctx, queue, watch, backoff.next())
                    continue
                assert status.adapter is not None
                mode = self._mode(status, patterns)
                if mode is None:
                    ctx.set_state(
                        "passive scanning unavailable",
                        f"{status.adapter.name}: BlueZ has no advertisement monitors "
                        "(run bluetoothd with --experimental, BlueZ >= 5.56)",
                    )
                    if not started:
                        ctx.started()
                        started = True
                    await self._wait_change(ctx, queue, watch, backoff.next())
                    continue
                scanner = build_scanner(callback, mode, status.adapter.name, patterns)
                try:
                    await asyncio.wait_for(scanner.start(), CALL_TIMEOUT)
                except Exception as exc:
                    ctx.set_state("scan failed", f"{type(exc).__name__}: {exc}")
                    count("scan_start_failures", 1)
                    log.warning("%s: starting the %s scan failed: %s", self.name, mode, exc)
                    if not started:
                        ctx.started()
                        started = True
                    await self._wait_change(ctx, queue, watch, backoff.next())
                    continue
                ctx.set_state("scanning", f"{mode} on {status.adapter.name}")
                if not started:
                    ctx.started()
                    started = True
                backoff.reset()
                try:
                    reason = await self._consume(ctx, pipeline, queue, watch)
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(scanner.stop(), CALL_TIMEOUT)
                if reason == "quiet":
                    count("scanner_restarts", 1)
                    log.warning(
                        "%s: no advertisement for %.0f s; restarting the scan",
                        self.name,
                        config.quiet_timeout,
                    )
        finally:
            await watch.close()

    async def _status(self, watch: AdapterWatch) -> Status:
        try:
            if not watch.connected:
                await asyncio.wait_for(watch.connect(), CALL_TIMEOUT)
            elif watch.needs_refresh:
                await asyncio.wait_for(watch.refresh(), CALL_TIMEOUT)
        except Exception as exc:
            await watch.close()
            return Status("bluez unavailable", f"system bus: {type(exc).__name__}: {exc}")
        return watch.status()

    def _mode(
        self, status: Status, patterns: list[tuple[int, int, bytes]]
    ) -> Literal["active", "passive"] | None:
        assert status.adapter is not None
        wanted = self.config.scanning_mode
        if wanted == "active":
            return "active"
        capable = status.adapter.passive_capable and bool(patterns)
        if wanted == "passive":
            return "passive" if capable else None
        return "passive" if capable else "active"

    async def _wait_change(
        self, ctx: DriverContext, queue: AdvertQueue, watch: AdapterWatch, delay: float
    ) -> None:
        """Wait for a BlueZ change or ``delay``, whichever first; then resynchronise."""
        queue.wake.clear()
        queue.drain()  # nothing decodable arrives while not scanning; stale snapshots go
        await _sleep_or_wake(ctx, queue.wake, delay)
        if watch.connected:
            watch.request_refresh()

    async def _consume(
        self, ctx: DriverContext, pipeline: Pipeline, queue: AdvertQueue, watch: AdapterWatch
    ) -> str:
        """Decode and emit until the adapter is lost (``"adapter"``) or quiet (``"quiet"``)."""
        quiet = float(self.config.quiet_timeout)
        queue.last_activity = time.monotonic()
        while True:
            items = queue.drain()
            if items:
                readings = []
                for item in items:
                    readings.extend(pipeline.process(item))
                if readings:
                    await ctx.emit_many(readings)
                continue
            if watch.needs_refresh:
                return "adapter"
            if not watch.status().ready:
                return "adapter"
            remaining = quiet - (time.monotonic() - queue.last_activity)
            if remaining <= 0:
                return "quiet"
            queue.wake.clear()
            await _sleep_or_wake(ctx, queue.wake, remaining)


async def _sleep_or_wake(ctx: DriverContext, wake: asyncio.Event, seconds: float) -> None:
    """``ctx.sleep(seconds)`` cut short by ``wake`` (time stays under the context's control)."""
    if wake.is_set():
        return
    sleeper = asyncio.ensure_future(ctx.sleep(seconds))
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waiter):
            if not task.done():
                task.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)


__all__ = ["Backoff", "BleDriver"]
