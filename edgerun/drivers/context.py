"""The :class:`edgerun.api.DriverContext` the core hands a running driver.

Readings go straight from :meth:`Context.emit` through the instance's normalizer into the
queue, with no intermediate buffer: the queue's :meth:`offer` is the only place readings
wait, and its backpressure (``wait_writable``) reaches the driver directly, so memory stays
bounded however fast a driver emits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio

from edgerun.normalize import Normalizer
from edgerun.queue.base import ReadingQueue
from edgerun.readings import Reading

T = TypeVar("T")

#: Worker threads shared by blocking calls that name no bus. Small, because a gateway has
#: few cores and blocking driver calls are short device I/O.
DEFAULT_THREADS: Final = 4


class BusLimiters:
    """One single-slot limiter per bus name, so calls on one bus never overlap."""

    def __init__(self) -> None:
        self._buses: dict[str, anyio.CapacityLimiter] = {}
        self._default: anyio.CapacityLimiter | None = None

    def get(self, bus: str | None) -> anyio.CapacityLimiter:
        if bus is None:
            if self._default is None:
                self._default = anyio.CapacityLimiter(DEFAULT_THREADS)
            return self._default
        limiter = self._buses.get(bus)
        if limiter is None:
            limiter = self._buses[bus] = anyio.CapacityLimiter(1)
        return limiter


class Context:
    """One start of one driver instance."""

    def __init__(
        self,
        name: str,
        data_dir: Path,
        queue: ReadingQueue,
        normalizer: Normalizer,
        limiters: BusLimiters,
        counters: dict[str, int],
        on_state: Callable[[str, str], None],
    ) -> None:
        self.name = name
        self.data_dir = data_dir
        self.log = logging.getLogger(f"edgerun.driver.{name}")
        self._queue = queue
        self._normalizer = normalizer
        self._row = normalizer.row
        self._limiters = limiters
        self._counters = counters
        self._on_state = on_state
        self.started_event = anyio.Event()
        self.emitted = 0

    def started(self) -> None:
        self.started_event.set()

    def _first(self) -> None:
        # Operators ask "is this driver producing anything?" — answer once per start.
        self.log.info("driver %s: first reading accepted", self.name)

    def _count_rejected(self, filtered_before: int) -> None:
        # Every reading the normalizer refused is counted in exactly one drop reason.
        reason = "filtered" if self._normalizer.filtered != filtered_before else "invalid"
        self._queue.count_drop(reason)

    async def emit(self, reading: Reading) -> None:
        filtered = self._normalizer.filtered
        row = self._row(reading)
        if row is None:
            self._count_rejected(filtered)
            return
        if not self.emitted:
            self._first()
        self.emitted += 1
        if not self._queue.offer(row):
            await self._queue.wait_writable()

    async def emit_many(self, readings: Iterable[Reading]) -> None:
        queue = self._queue
        to_row = self._row
        if not self.emitted:
            self._first()
        norm = self._normalizer
        n = 0
        for reading in readings:
            filtered = norm.filtered
            row = to_row(reading)
            if row is None:
                self._count_rejected(filtered)
                continue
            n += 1
            if not queue.offer(row):
                self.emitted += n
                n = 0
                await queue.wait_writable()
        self.emitted += n

    async def run_sync(self, func: Callable[..., T], *args: Any, bus: str | None = None) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiters.get(bus))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def count(self, name: str, n: int = 1) -> None:
        self._counters[name] = self._counters.get(name, 0) + n

    def set_state(self, state: str, detail: str = "") -> None:
        self._on_state(state, detail)

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
