"""Helpers for testing drivers, shipped for plugin authors (``from edgerun.testing import ...``).

:class:`RecordingContext` is a real :class:`edgerun.api.DriverContext` whose readings go
through the same normalizer the runtime uses into a list, so a driver's test sees exactly
what the gateway would accept, reject (``ctx.invalid``) or convert. :func:`run_driver` runs
a driver until it has emitted enough readings, with a deadline.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import anyio

from edgerun.api import Driver, DriverConfig
from edgerun.clock import ClockState
from edgerun.config.base import convert
from edgerun.drivers.context import BusLimiters
from edgerun.normalize import Normalizer
from edgerun.readings import Reading, Row

T = TypeVar("T")


class RecordingContext:
    """A driver context that records normalized rows instead of queueing them."""

    def __init__(self, name: str = "test", data_dir: Path | None = None) -> None:
        self.name = name
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="edgerun-test-"))
        self.log = logging.getLogger(f"edgerun.driver.{name}")
        self.rows: list[Row] = []
        self.counters: dict[str, int] = {}
        self.states: list[tuple[str, str]] = []
        self.started_event = anyio.Event()
        self._normalizer = Normalizer(name, ClockState("trusted"))
        self._limiters = BusLimiters()
        self._changed = anyio.Event()

    @property
    def invalid(self) -> int:
        """Readings the normalizer rejected."""
        return self._normalizer.invalid

    def started(self) -> None:
        self.started_event.set()

    async def emit(self, reading: Reading) -> None:
        row = self._normalizer.row(reading)
        if row is not None:
            self.rows.append(row)
        self._changed.set()
        self._changed = anyio.Event()
        await anyio.lowlevel.checkpoint()

    async def emit_many(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            await self.emit(reading)

    async def run_sync(self, func: Callable[..., T], *args: Any, bus: str | None = None) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiters.get(bus))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def set_state(self, state: str, detail: str = "") -> None:
        self.states.append((state, detail))

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def wait_rows(self, n: int, timeout: float = 10.0) -> list[Row]:
        """Wait until at least ``n`` rows were recorded; raises ``TimeoutError``."""
        with anyio.fail_after(timeout):
            while len(self.rows) < n:
                await self._changed.wait()
        return self.rows


def make_driver(cls: type[Driver[Any]], name: str = "test", **options: Any) -> Driver[Any]:
    """Build a driver the way the runtime does: options validated by its config model."""
    config: DriverConfig = convert(options, cls.config_type, f"drivers[{name}]")
    return cls(name, config)


async def run_driver(
    driver: Driver[Any], until: int, timeout: float = 10.0, ctx: RecordingContext | None = None
) -> RecordingContext:
    """Run ``driver`` until it emitted ``until`` accepted readings (or returned).

    A driver's exception propagates as itself; ``TimeoutError`` when too few readings came.
    """
    ctx = ctx or RecordingContext(driver.name)
    try:
        async with anyio.create_task_group() as tg:

            async def body() -> None:
                await driver.run(ctx)
                tg.cancel_scope.cancel()

            tg.start_soon(body)
            await ctx.wait_rows(until, timeout)
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Re-raise a driver's single failure as itself, so tests can match it directly.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    return ctx


__all__ = ["RecordingContext", "make_driver", "run_driver"]
