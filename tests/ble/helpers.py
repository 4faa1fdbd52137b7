"""Small helpers shared by the BLE tests: a driver run with a deadline, state waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from edgerun_ble.driver import BleDriver

from edgerun.testing import RecordingContext, make_driver

BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
ATC = "0000181a-0000-1000-8000-00805f9b34fb"
RUUVI = 0x0499
RUUVI_VECTOR = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
ATC_ADDRESS = "A4:C1:38:8D:18:B2"
ATC1441_VECTOR = bytes.fromhex("A4C1388D18B201122F640CA025")


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` on every loop turn until true; raises TimeoutError after ``timeout``.

    The driver under test runs in the same loop, so yielding is what lets it progress; the
    deadline is the only bound.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)


def states(ctx: RecordingContext) -> list[str]:
    return [s for s, _ in ctx.states]


def rows_of(ctx: RecordingContext, device: str, quantity: str) -> list[Any]:
    return [r[3] for r in ctx.rows if r[1].endswith(device) and r[2] == quantity]


@asynccontextmanager
async def running(
    plugin_manager: Any = None, **options: Any
) -> AsyncIterator[tuple[BleDriver, RecordingContext]]:
    """Run a ``ble`` driver built from ``options`` until the block exits."""
    driver = make_driver(BleDriver, "ble", **options)
    assert isinstance(driver, BleDriver)
    if plugin_manager is not None:
        driver.plugin_manager = plugin_manager
    ctx = RecordingContext("ble")
    task = asyncio.get_running_loop().create_task(driver.run(ctx))
    try:
        yield driver, ctx
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
