"""The RPi.GPIO backend against a stand-in for the ``RPi.GPIO`` module (tests/gpio/fakes.py)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import anyio
import pytest
from edgerun_gpio.chips.base import ChipError
from edgerun_gpio.driver import GpioDriver

from edgerun.testing import RecordingContext, make_driver
from tests.gpio.rpigpio_fake import FakeRpiGpio


def install_rpigpio(monkeypatch: pytest.MonkeyPatch) -> FakeRpiGpio:
    mod = FakeRpiGpio()
    pkg = types.ModuleType("RPi")
    pkg.GPIO = mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "RPi", pkg)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", mod)
    return mod


@pytest.mark.anyio
async def test_driver_on_rpigpio_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gpio = install_rpigpio(monkeypatch)
    driver = make_driver(
        GpioDriver,
        "pi3",
        backend="rpigpio",
        inputs=[
            {
                "name": "reed",
                "line": 22,
                "mode": "counter",
                "bias": "pull_down",
                "debounce": 0,
                "interval": 0.05,
            },
            {"name": "level", "line": 23, "mode": "level", "interval": 0.05},
        ],
        outputs=[{"name": "valve", "line": 24, "active_low": True, "safe_state": False}],
    )
    ctx = RecordingContext("pi3", tmp_path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        with anyio.fail_after(5):
            await ctx.started_event.wait()
        assert gpio.mode == gpio.BCM
        assert gpio.setups[22] == {"direction": gpio.IN, "pull_up_down": gpio.PUD_DOWN}
        assert gpio.setups[23] == {"direction": gpio.IN}
        assert gpio.setups[24] == {"direction": gpio.OUT, "initial": gpio.HIGH}, "active low"
        for _ in range(3):
            gpio.drive(22, 1)
            gpio.drive(22, 0)

        def total() -> int:
            vals = [r[3] for r in ctx.rows if r[1:3] == ("pi3/reed", "count_total")]
            return int(vals[-1]) if vals else -1

        with anyio.fail_after(5):
            while total() < 3:
                await ctx.wait_rows(len(ctx.rows) + 1)
        assert total() == 3
        await driver.command("valve", "set", {"value": "on"})
        assert gpio.levels[24] == gpio.LOW, "active low: on drives the line low"
        tg.cancel_scope.cancel()
    assert gpio.levels[24] == gpio.HIGH
    assert sorted(gpio.cleaned) == [22, 23], "inputs released, outputs kept driven"
    assert gpio.callbacks == {}


def test_rpigpio_refuses_line_names(monkeypatch: pytest.MonkeyPatch) -> None:
    install_rpigpio(monkeypatch)
    from edgerun_gpio.chips.rpigpio import RpiGpioChip

    with pytest.raises(ChipError, match="BCM number"):
        RpiGpioChip().resolve("GPIO17")


def test_rpigpio_not_on_a_pi_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = types.ModuleType("RPi")
    monkeypatch.setitem(sys.modules, "RPi", pkg)
    monkeypatch.delitem(sys.modules, "RPi.GPIO", raising=False)
    monkeypatch.setattr(pkg, "__path__", [], raising=False)
    from edgerun_gpio.chips.rpigpio import RpiGpioChip

    with pytest.raises(ChipError, match=r"RPi\.GPIO is not usable"):
        RpiGpioChip()
