"""The libgpiod v2 backend against a fake of its device level (tests/gpio/fakes.py).

The real ``gpiod`` package runs; only its C extension's chip and request objects are
replaced. Skipped where the ``gpiod`` bindings are not installed (``pip install gpiod``).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

pytest.importorskip("gpiod")

from edgerun_gpio.chips.base import ChipError, InputSpec, OutputSpec
from edgerun_gpio.chips.gpiod import GpiodChip
from edgerun_gpio.driver import GpioDriver
from gpiod.line import Bias, Direction, Edge, Value

from edgerun.testing import RecordingContext, make_driver
from tests.gpio.gpiod_fake import install_gpiod


def test_gpiod_requests_lines_reads_writes_and_reads_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install_gpiod(monkeypatch)
    chip = GpiodChip("/dev/gpiochip0")
    assert chip.resolve("GPIO17") == 17
    assert chip.resolve(5) == 5
    with pytest.raises(ChipError, match="no line named"):
        chip.resolve("NOPE")
    chip.open(
        [InputSpec(5, "pull_up", edges=True), InputSpec(6, "pull_down", edges=False)],
        [OutputSpec(17, level=True)],
    )
    (ext,) = fake.opened
    (req,) = ext.requests
    assert req.consumer == "edgerun"
    st = {off: s.kwargs for off, s in req.config.settings.items()}
    assert st[5]["direction"] == Direction.INPUT.value
    assert st[5]["bias"] == Bias.PULL_UP.value
    assert st[5]["edge_detection"] == Edge.BOTH.value
    assert st[6]["bias"] == Bias.PULL_DOWN.value
    assert st[6]["edge_detection"] == Edge.NONE.value
    assert st[17]["direction"] == Direction.OUTPUT.value
    assert st[17]["output_value"] == Value.ACTIVE.value
    assert ext.levels[17] is True, "the output starts at its level, with no glitch"

    ext.levels[6] = True
    assert chip.read(6) is True
    chip.write(17, False)
    assert ext.writes == [(17, False)]

    assert chip.wait_edges(0.0) == []
    t0 = time.monotonic_ns()
    req.edge(5, rising=False, ts_ns=t0)
    req.edge(5, rising=True, ts_ns=t0 + 1000, skip=2)
    edges = chip.wait_edges(1.0)
    assert [(e.line, e.level, e.ts_ns) for e in edges] == [(5, False, t0), (5, True, t0 + 1000)]
    assert chip.lost_edges == 2, "a gap in the kernel's sequence numbers counts as lost"

    chip.close()
    assert req.released
    assert ext.closed


def test_gpiod_missing_chip_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    install_gpiod(monkeypatch)
    with pytest.raises(ChipError, match="cannot open GPIO chip /nonexistent"):
        GpiodChip("/nonexistent")


@pytest.mark.anyio
async def test_driver_on_gpiod_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = install_gpiod(monkeypatch)
    driver = make_driver(
        GpioDriver,
        "pi5",
        backend="gpiod",
        chip="/dev/gpiochip4",
        inputs=[
            {
                "name": "button",
                "line": "GPIO5",
                "mode": "edge",
                "active_low": True,
                "bias": "pull_up",
                "debounce": 0.005,
            }
        ],
        outputs=[{"name": "lamp", "line": 17, "safe_state": False}],
    )
    ctx = RecordingContext("pi5", tmp_path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        with anyio.fail_after(5):
            await ctx.started_event.wait()
        (ext,) = fake.opened
        (req,) = ext.requests
        ext.levels[5] = True  # pulled up: released
        await ctx.wait_rows(2)  # lamp state + button initial state
        req.edge(5, rising=False, ts_ns=time.monotonic_ns())  # pressed (active low)
        rows = await ctx.wait_rows(3)
        assert rows[2][1:4] == ("pi5/button", "binary", True)
        assert await driver.command("lamp", "set", {"value": True}) == {"value": True}
        assert ext.levels[17] is True
        tg.cancel_scope.cancel()
    assert ext.levels[17] is False, "safe state restored at shutdown"
    assert req.released
