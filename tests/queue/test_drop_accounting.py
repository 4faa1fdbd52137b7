"""Every reading a driver emits is queued or counted in exactly one drop reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgerun.clock import ClockState
from edgerun.drivers.context import BusLimiters, Context
from edgerun.normalize import Normalizer
from edgerun.queue.config import QueueConfig
from edgerun.queue.memory import MemoryQueue
from edgerun.readings import Reading

pytestmark = pytest.mark.anyio


def _drop_odd(reading: Reading) -> Reading | None:
    return None if reading[0].endswith("odd") else reading


async def test_invalid_and_filtered_are_counted_exactly(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    norm = Normalizer("drv", ClockState("trusted"), [_drop_odd])
    states: list[Any] = []
    ctx = Context(
        "drv", tmp_path, queue, norm, BusLimiters(), {}, lambda s, d: states.append((s, d))
    )
    good = Reading("dev", "temperature", 21.5, None, None, None)
    invalid = Reading("dev", "no_such_quantity", 1.0, None, None, None)
    filtered = Reading("dev-odd", "temperature", 20.0, None, None, None)
    for r in (good, invalid, filtered, invalid):
        await ctx.emit(r)
    await ctx.emit_many([good, filtered, filtered, invalid, good])
    stats = queue.stats()
    assert stats.dropped["invalid"] == 3
    assert stats.dropped["filtered"] == 3
    assert ctx.emitted == 3
    assert norm.invalid == 3
    assert norm.filtered == 3
