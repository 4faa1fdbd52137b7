"""Inputs: level sampling, debounced edge reporting and pulse counting.

* ``level`` inputs are read every ``interval`` and emitted as ``binary``.
* ``edge`` inputs emit ``binary`` once at start and then on each debounced change,
  stamped with the time the line settled.
* ``counter`` inputs count debounced edges (``count_on``) and every ``interval`` emit the
  edges of that interval (``count``) and the running total (``count_total``). The total
  is persisted before it is emitted, so a restart continues from the last reported total
  (a crash loses at most the edges of the interval in progress).

One task waits for edges of all edge and counter inputs (:data:`MAX_WAIT` at a time) and
runs their debouncers.
"""

from __future__ import annotations

import time

import anyio

from edgerun.api import Reading
from edgerun_gpio.config import InputConfig
from edgerun_gpio.debounce import Change, Debouncer
from edgerun_gpio.lines import Lines

#: Longest single wait for edges in the worker thread. The wait cannot be interrupted, so
#: this is how long a shutdown or restart may wait for it; 100 ms is invisible within the
#: grace period and costs an idle thread ten wake-ups a second.
MAX_WAIT = 0.1


class Input:
    __slots__ = ("config", "debouncer", "interval_count", "line")

    def __init__(self, config: InputConfig, line: int) -> None:
        self.config = config
        self.line = line
        self.debouncer = Debouncer(config.debounce, False)
        self.interval_count = 0

    def counts(self, change: Change) -> bool:
        on = self.config.count_on
        return on == "both" or (on == "rising") == change.level


class Inputs:
    """The driver's inputs while it runs."""

    def __init__(self, lines: Lines, inputs: list[tuple[InputConfig, int]]) -> None:
        self._lines = lines
        self._inputs = [Input(cfg, line) for cfg, line in inputs]
        self._by_line = {i.line: i for i in self._inputs if i.config.mode != "level"}
        self._lost_seen = 0

    def __len__(self) -> int:
        return len(self._inputs)

    async def _read(self, inp: Input) -> bool:
        level = await self._lines.io(self._lines.chip.read, inp.line)
        return level ^ inp.config.active_low

    async def run(self) -> None:
        """Run until cancelled."""
        lines = self._lines
        for inp in self._by_line.values():
            inp.debouncer.level = await self._read(inp)
            if inp.config.mode == "edge":
                await lines.ctx.emit(Reading(inp.config.name, "binary", inp.debouncer.level))
            else:
                lines.state.counters.setdefault(inp.config.name, 0)
        async with anyio.create_task_group() as tg:
            if self._by_line:
                tg.start_soon(self._pump_edges)
            for inp in self._inputs:
                if inp.config.mode == "level":
                    tg.start_soon(self._sample, inp)
                elif inp.config.mode == "counter":
                    tg.start_soon(self._report, inp)

    async def _sample(self, inp: Input) -> None:
        ctx = self._lines.ctx
        while True:
            level = await self._read(inp)
            await ctx.emit(Reading(inp.config.name, "binary", level))
            await ctx.sleep(inp.config.interval)

    async def _report(self, inp: Input) -> None:
        lines = self._lines
        name = inp.config.name
        while True:
            await lines.ctx.sleep(inp.config.interval)
            count, inp.interval_count = inp.interval_count, 0
            total = lines.state.counters.get(name, 0)
            await lines.persist()
            await lines.ctx.emit_many(
                [Reading(name, "count", count), Reading(name, "count_total", total)]
            )

    async def _pump_edges(self) -> None:
        lines = self._lines
        chip = lines.chip
        pending = list(self._by_line.values())
        while True:
            now = time.monotonic_ns()
            deadlines = [d for i in pending if (d := i.debouncer.deadline()) is not None]
            wait = MAX_WAIT
            if deadlines:
                wait = min(wait, max(0.0, (min(deadlines) - now) / 1e9))
            edges = await lines.ctx.run_sync(chip.wait_edges, wait, bus=lines.events_bus)
            for edge in edges:
                inp = self._by_line.get(edge.line)
                if inp is None:
                    continue
                change = inp.debouncer.feed(edge.level ^ inp.config.active_low, edge.ts_ns)
                if change is not None:
                    await self._changed(inp, change)
            now = time.monotonic_ns()
            for inp in pending:
                change = inp.debouncer.poll(now)
                if change is not None:
                    await self._changed(inp, change)
            lost = chip.lost_edges
            if lost > self._lost_seen:
                lines.ctx.count("edges_lost", lost - self._lost_seen)
                lines.ctx.log.warning("%d edge event(s) lost so far", lost)
                self._lost_seen = lost

    async def _changed(self, inp: Input, change: Change) -> None:
        lines = self._lines
        if inp.config.mode == "edge":
            await lines.ctx.emit(
                Reading(inp.config.name, "binary", change.level, None, lines.wall_ms(change.ts_ns))
            )
        elif inp.counts(change):
            inp.interval_count += 1
            name = inp.config.name
            lines.state.counters[name] = lines.state.counters.get(name, 0) + 1


__all__ = ["MAX_WAIT", "Inputs"]
