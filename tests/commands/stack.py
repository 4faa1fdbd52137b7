"""The gateway's command stack in one process, as the supervisor assembles it: a memory
queue, the real uplink, the command router and one GPIO driver on the simulated chip whose
readings go through the real driver context and normalizer. Used by the end-to-end test and
bench/commands_bench.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.abc
from edgerun_gpio.chips.sim import SimChip
from edgerun_gpio.driver import GpioDriver

from edgerun.clock import ClockState
from edgerun.commands import CommandRouter, CommandsConfig, build_router
from edgerun.config.base import convert
from edgerun.config.model import GatewayConfig
from edgerun.drivers.context import BusLimiters, Context
from edgerun.normalize import Normalizer
from edgerun.queue.memory import MemoryQueue
from edgerun.testing import make_driver
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.uplink.helpers import memory_queue


@dataclass
class Stack:
    queue: MemoryQueue
    uplink: Uplink
    driver: GpioDriver
    ctx: Context
    router: CommandRouter

    async def start(self, tg: anyio.abc.TaskGroup) -> SimChip:
        """Start uplink, router and driver; returns the driver's chip once it has started."""
        await tg.start(self.uplink.run)
        await tg.start(self.router.run)
        tg.start_soon(self.driver.run, self.ctx)
        with anyio.fail_after(10):
            await self.ctx.started_event.wait()
        assert isinstance(self.driver.chip, SimChip)
        return self.driver.chip


async def build_stack(
    broker_url: str,
    data_dir: Path,
    gateway_id: str,
    gpio: dict[str, Any],
    commands: dict[str, Any],
) -> Stack:
    """``gpio``: the driver's options (instance name ``io``); ``commands``: ``[commands]``."""
    gateway = GatewayConfig(id=gateway_id, data_dir=str(data_dir))
    queue = await memory_queue()
    uplink = Uplink(
        convert({"url": broker_url, "flush_interval": 0.02}, UplinkConfig), gateway, queue, dict
    )
    driver = make_driver(GpioDriver, "io", backend="sim", **gpio)
    assert isinstance(driver, GpioDriver)
    ctx = Context(
        "io",
        data_dir / "drivers" / "io",
        queue,
        Normalizer("io", ClockState("trusted")),
        BusLimiters(),
        {},
        lambda state, detail: None,
    )
    router = build_router(
        convert(commands, CommandsConfig),
        gateway_id=gateway_id,
        data_dir=data_dir,
        uplink_prefix="edgerun",
        transport=uplink,
        drivers={"io": driver},
    )
    return Stack(queue, uplink, driver, ctx, router)
