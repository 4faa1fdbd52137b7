"""What inputs and outputs share while the driver runs: the chip, the context, the state.

Chip calls block, so they go through ``ctx.run_sync`` on the chip's own bus (one call at a
time, in order); waiting for edges uses a second bus so a write never queues behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from edgerun.api import DriverContext
from edgerun_gpio.chips.base import Chip
from edgerun_gpio.state import GpioState, save_state

T = TypeVar("T")


class Lines(msgspec.Struct):
    chip: Chip
    ctx: DriverContext
    state: GpioState
    state_path: Path
    bus: str

    @property
    def events_bus(self) -> str:
        return f"{self.bus}:events"

    async def io(self, func: Callable[..., T], *args: Any) -> T:
        """Run a chip call on the chip's bus."""
        return await self.ctx.run_sync(func, *args, bus=self.bus)

    async def persist(self) -> None:
        """Write the state file (atomically, in a worker thread)."""
        await anyio.to_thread.run_sync(save_state, self.state_path, self.state)

    def wall_ms(self, ts_ns: int) -> int:
        """Wall-clock ms of a monotonic timestamp from the chip."""
        return self.ctx.now_ms() - max(0, time.monotonic_ns() - ts_ns) // 1_000_000


__all__ = ["Lines"]
