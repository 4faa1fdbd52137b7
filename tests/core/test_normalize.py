"""The normalizer: what is accepted, converted, qualified and rejected."""

from __future__ import annotations

import pytest

from edgerun.clock import ClockState
from edgerun.normalize import Normalizer
from edgerun.readings import Reading


@pytest.fixture
def norm() -> Normalizer:
    return Normalizer("mesh", ClockState("untrusted"))


def test_accepts_and_qualifies(norm: Normalizer) -> None:
    row = norm.row(Reading("node-7", "temperature", 21.5, ts_ms=1_700_000_000_000))
    assert row == (1_700_000_000_000, "mesh/node-7", "temperature", 21.5, "°C", False, None)


def test_converts_units(norm: Normalizer) -> None:
    row = norm.row(Reading("m", "energy", 2.5, unit="kWh", ts_ms=1_700_000_000_000))
    assert row is not None
    assert row[3] == 2500.0
    assert row[4] == "Wh"


def test_binary_accepts_bool_and_0_1(norm: Normalizer) -> None:
    r1 = norm.row(Reading("door", "binary", 1))
    r2 = norm.row(Reading("door", "binary", False))
    assert r1 is not None
    assert r2 is not None
    assert (r1[3], r2[3]) == (True, False)


def test_fills_timestamp_and_keeps_extra(norm: Normalizer) -> None:
    row = norm.row(Reading("d", "co2", 600, extra={"index": 2}))
    assert row is not None
    assert row[0] > 1_700_000_000_000
    assert row[6] == {"index": 2}


@pytest.mark.parametrize(
    "reading",
    [
        Reading("d", "unknown_q", 1.0),
        Reading("d", "temperature", float("nan")),
        Reading("d", "temperature", float("inf")),
        Reading("d", "temperature", True),
        Reading("d", "temperature", "21"),
        Reading("d", "temperature", 21.0, unit="ppm"),
        Reading("d", "binary", 2),
        Reading("d", "text", 5),
        Reading("d", "text", "x" * 5000),
        Reading("", "temperature", 1.0),
        Reading("x" * 200, "temperature", 1.0),
        Reading("d", "temperature", 1.0, ts_ms=1_700_000_000),  # seconds, not ms
        Reading("d", "temperature", 1.0, ts_ms=1.5e12),  # type: ignore[arg-type]
        Reading("d", "temperature", 1.0, extra={1: "x"}),  # type: ignore[dict-item]
        Reading("d", "binary", True, unit="V"),
    ],
)
def test_rejects_and_counts(norm: Normalizer, reading: Reading) -> None:
    assert norm.row(reading) is None
    assert norm.invalid == 1


def test_rejects_non_readings(norm: Normalizer) -> None:
    assert norm.row(("only", "three", 1)) is None  # type: ignore[arg-type]
    assert norm.row(None) is None  # type: ignore[arg-type]
    assert norm.invalid == 2


def test_processors_run_in_order_and_may_drop() -> None:
    def scale(r: Reading) -> Reading:
        return r._replace(value=r.value * 2) if isinstance(r.value, float) else r

    def drop_co2(r: Reading) -> Reading | None:
        return None if r.quantity == "co2" else r

    norm = Normalizer("p", ClockState("trusted"), [scale, drop_co2])
    row = norm.row(Reading("d", "temperature", 10.5))
    assert row is not None
    assert row[3] == 21.0
    assert row[5] is True
    assert norm.row(Reading("d", "co2", 500)) is None
    assert (norm.filtered, norm.invalid) == (1, 0)
