"""The GPIO driver on the simulated chip: debounced edges, counters, persisted totals, outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from edgerun_gpio.chips.sim import SimChip
from edgerun_gpio.driver import GpioDriver

from edgerun.api import CommandError
from edgerun.testing import RecordingContext, make_driver

pytestmark = pytest.mark.anyio

MS = 1_000_000


def values(ctx: RecordingContext, device: str, quantity: str) -> list[Any]:
    return [r[3] for r in ctx.rows if r[1] == device and r[2] == quantity]


async def wait_values(
    ctx: RecordingContext, device: str, quantity: str, pred: Any, timeout: float = 5.0
) -> list[Any]:
    with anyio.fail_after(timeout):
        while not pred(values(ctx, device, quantity)):
            await ctx.wait_rows(len(ctx.rows) + 1, timeout)
    return values(ctx, device, quantity)


def chip_of(driver: GpioDriver) -> SimChip:
    assert isinstance(driver.chip, SimChip)
    return driver.chip


async def test_edges_with_bounce_are_filtered(tmp_path: Path) -> None:
    driver = make_driver(
        GpioDriver,
        "io",
        backend="sim",
        inputs=[
            {
                "name": "door",
                "line": 5,
                "mode": "edge",
                "active_low": True,
                "bias": "pull_up",
                "debounce": 0.02,
            }
        ],
    )
    ctx = RecordingContext("io", tmp_path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        await wait_values(ctx, "io/door", "binary", lambda v: v == [False])
        chip = chip_of(driver)
        # A bouncing close (active low: the line goes low), settling at t0 + 4 ms.
        t0 = time.monotonic_ns()
        for i, level in enumerate([False, True, False, True, False]):
            chip.drive(5, level, t0 + i * MS)
        # A 1 ms glitch while closed: no change may be reported for it.
        t1 = time.monotonic_ns() + 50 * MS
        chip.drive(5, True, t1)
        chip.drive(5, False, t1 + MS)
        # The real opening, bouncing too.
        t2 = t1 + 100 * MS
        for i, level in enumerate([True, False, True]):
            chip.drive(5, level, t2 + i * MS)
        seen = await wait_values(ctx, "io/door", "binary", lambda v: len(v) >= 3)
        assert seen == [False, True, False]
        stamps = [r[0] for r in ctx.rows if r[1] == "io/door"]
        assert stamps[1] <= stamps[2], "changes carry their settling time, in order"
        tg.cancel_scope.cancel()
    assert values(ctx, "io/door", "binary") == [False, True, False]


async def run_counter(tmp_path: Path, pulses: int, expect_total: int) -> RecordingContext:
    driver = make_driver(
        GpioDriver,
        "meter",
        backend="sim",
        inputs=[
            {
                "name": "s0",
                "line": 6,
                "mode": "counter",
                "interval": 0.1,
                "debounce": 0.002,
                "count_on": "rising",
            }
        ],
    )
    ctx = RecordingContext("meter", tmp_path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        with anyio.fail_after(5):
            await ctx.started_event.wait()
        chip = chip_of(driver)
        start = time.monotonic_ns()
        for i in range(pulses):
            t = start + i * 10 * MS
            chip.drive(6, True, t)
            chip.drive(6, False, t + 200_000)  # bounce inside the pulse: filtered
            chip.drive(6, True, t + 400_000)
            chip.drive(6, False, t + 5 * MS)
        await wait_values(
            ctx, "meter/s0", "count_total", lambda v: bool(v) and v[-1] >= expect_total
        )
        tg.cancel_scope.cancel()
    return ctx


async def test_counter_reports_per_interval_and_total_survives_restart(tmp_path: Path) -> None:
    first = await run_counter(tmp_path, pulses=7, expect_total=7)
    counts = values(first, "meter/s0", "count")
    totals = values(first, "meter/s0", "count_total")
    assert totals[-1] == 7
    assert sum(counts) == 7, "each interval reports the edges of that interval only"
    assert all(c >= 0 for c in counts)
    assert totals == sorted(totals)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["counters"] == {"s0": 7}

    second = await run_counter(tmp_path, pulses=3, expect_total=10)
    totals = values(second, "meter/s0", "count_total")
    assert totals[0] >= 7, "the running total continues after a restart"
    assert totals[-1] == 10
    assert sum(values(second, "meter/s0", "count")) == 3


async def test_corrupt_state_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"version": 1, "counters": {"s0": "lots"')
    ctx = await run_counter(tmp_path, pulses=2, expect_total=2)
    assert values(ctx, "meter/s0", "count_total")[-1] == 2
    assert ctx.counters["state_corrupt"] == 1
    assert (tmp_path / "state.json.corrupt").exists()


async def test_output_actions_and_refusals(tmp_path: Path) -> None:
    driver = make_driver(
        GpioDriver,
        "io",
        backend="sim",
        outputs=[
            {"name": "relay", "line": 17, "safe_state": False, "max_pulse": 2},
            {"name": "siren", "line": 18, "active_low": True, "safe_state": False},
        ],
    )
    with pytest.raises(CommandError) as info:
        await driver.command("relay", "set", {"value": True})
    assert info.value.reason == "unavailable"
    ctx = RecordingContext("io", tmp_path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        with anyio.fail_after(5):
            await ctx.started_event.wait()
        chip = chip_of(driver)
        assert chip.level(17) is False
        assert chip.level(18) is True, "active low: safe off drives high"
        assert await driver.command("relay", "toggle", {}) == {"value": True}
        assert chip.level(17) is True
        state = json.loads((tmp_path / "state.json").read_text())
        assert state["clean"] is False, "away from safe state is recorded before it happens"
        result = await driver.command("relay", "pulse", {"duration": 0.05, "value": False})
        assert result == {"value": True, "pulsed": False, "duration": 0.05}
        assert chip.writes[-2:] == [(17, False), (17, True)]
        assert await driver.command("siren", "get", {}) == {"value": False}
        for target, action, args, reason in [
            ("nope", "set", {"value": True}, "unknown_target"),
            ("relay", "explode", {}, "unsupported_action"),
            ("relay", "set", {"value": 2}, "bad_args"),
            ("relay", "set", {"value": True, "force": 1}, "bad_args"),
            ("relay", "pulse", {"duration": float("nan")}, "bad_args"),
            ("relay", "pulse", {"duration": 3}, "bad_args"),
            ("relay", "pulse", {"duration": True}, "bad_args"),
        ]:
            with pytest.raises(CommandError) as info:
                await driver.command(target, action, args)
            assert info.value.reason == reason, (target, action, args)

        # A pulse cancelled half-way (the router's timeout) still restores the line.
        with anyio.move_on_after(0.05):
            await driver.command("relay", "pulse", {"duration": 1.5, "value": False})
        assert chip.level(17) is True
        assert await driver.command("relay", "set", {"value": "off"}) == {"value": False}
        state = json.loads((tmp_path / "state.json").read_text())
        assert state["clean"] is True
        await driver.command("siren", "set", {"value": True})
        assert chip.level(18) is False
        tg.cancel_scope.cancel()
    assert chip.level(18) is True, "safe state at shutdown"
    assert json.loads((tmp_path / "state.json").read_text())["clean"] is True
    assert chip.closed
    assert values(ctx, "io/relay", "binary")[:3] == [False, True, False]


async def test_unknown_line_fails_the_start_clearly(tmp_path: Path) -> None:
    driver = make_driver(GpioDriver, "io", backend="sim", inputs=[{"name": "x", "line": 99}])
    with pytest.raises(Exception, match="lines 0-53"):
        await driver.run(RecordingContext("io", tmp_path))
