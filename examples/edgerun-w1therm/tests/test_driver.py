"""Tests for the w1therm driver, written the way a plugin author would: a fake sysfs tree
(the lowest level — the files the kernel would expose) and edgerun.testing."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from edgerun_w1therm.driver import W1ThermDriver

from edgerun.testing import RecordingContext, make_driver, run_driver


def fake_bus(root: Path, sensors: dict[str, str]) -> Path:
    for name, content in sensors.items():
        (root / name).mkdir(parents=True)
        (root / name / "temperature").write_text(content, encoding="ascii")
    (root / "w1_bus_master1").mkdir()
    return root


def test_reads_every_thermometer(tmp_path: Path) -> None:
    bus = fake_bus(tmp_path, {"28-0000000001": "21500\n", "10-0000000002": "-3125\n"})
    driver = make_driver(W1ThermDriver, "boiler", root=str(bus), interval=1)
    ctx = anyio.run(run_driver, driver, 2)
    got = {(r[1], r[2], r[3], r[4]) for r in ctx.rows}
    assert got == {
        ("boiler/10-0000000002", "temperature", -3.125, "°C"),
        ("boiler/28-0000000001", "temperature", 21.5, "°C"),
    }


def test_bad_sensor_is_counted_and_skipped(tmp_path: Path) -> None:
    bus = fake_bus(tmp_path, {"28-bad": "not a number", "28-good": "19000"})
    driver = make_driver(W1ThermDriver, "b", root=str(bus), interval=1)
    ctx = RecordingContext("b")
    anyio.run(run_driver, driver, 1, 10.0, ctx)
    assert [r[1] for r in ctx.rows] == ["b/28-good"]
    assert ctx.counters["read_errors"] == 1


def test_missing_bus_fails_the_start(tmp_path: Path) -> None:
    driver = make_driver(W1ThermDriver, "b", root=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="1-Wire bus not found"):
        anyio.run(run_driver, driver, 1)
