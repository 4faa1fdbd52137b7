"""Misbehaving drivers for the core's own tests, loaded with EDGERUN_PLUGIN_MODULES.

Each one exercises a failure the supervisor must contain: raising at every start, hanging
before ``started()``, emitting garbage, and ignoring cancellation in a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from edgerun.api import Driver, DriverConfig, DriverContext, Reading, hookimpl


class FailingConfig(DriverConfig):
    message: str = "device not found"


class AlwaysFails(Driver[FailingConfig]):
    """Raises on every start."""

    config_type = FailingConfig

    async def run(self, ctx: DriverContext) -> None:
        raise OSError(self.config.message)


class HangConfig(DriverConfig):
    pass


class HangsOnStart(Driver[HangConfig]):
    """Never calls started(): stuck opening a device."""

    config_type = HangConfig

    async def run(self, ctx: DriverContext) -> None:
        await ctx.sleep(3600)


class GarbageConfig(DriverConfig):
    pass


class EmitsGarbage(Driver[GarbageConfig]):
    """Emits one valid reading between invalid ones, forever."""

    config_type = GarbageConfig

    async def run(self, ctx: DriverContext) -> None:
        ctx.started()
        bad: list[Any] = [
            Reading("d", "no_such_quantity", 1.0),
            Reading("d", "temperature", float("nan")),
            Reading("d", "temperature", "hot"),
            Reading("d", "temperature", 300.0, unit="furlongs"),
            Reading("", "temperature", 1.0),
            Reading("d", "temperature", 1.0, ts_ms=12),
            ("not", "a", "reading"),
        ]
        while True:
            for item in bad:
                await ctx.emit(item)
            await ctx.emit(Reading("d", "temperature", 20.0))
            await ctx.sleep(0.01)


class BlockingConfig(DriverConfig):
    pass


#: Set when the BlocksShutdown driver's blocking call has begun.
BLOCKING_STARTED = threading.Event()


class BlocksShutdown(Driver[BlockingConfig]):
    """Started, then stuck in a blocking call that cancellation cannot interrupt."""

    config_type = BlockingConfig

    async def run(self, ctx: DriverContext) -> None:
        ctx.started()
        await ctx.emit(Reading("d", "temperature", 20.0))
        ctx.log.info("entering a blocking call")
        await ctx.run_sync(time.sleep, 3600)


@hookimpl
def edgerun_register_drivers(register: Callable[[str, Any], None]) -> None:
    register("test-fails", AlwaysFails)
    register("test-hangs", HangsOnStart)
    register("test-garbage", EmitsGarbage)
    register("test-blocks", BlocksShutdown)
