"""The vocabulary, its documentation and unit conversion agree."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from edgerun.quantities import QUANTITIES, UnitError, convert

DOC = Path(__file__).parents[2] / "docs" / "quantities.md"


def test_docs_list_every_quantity_with_its_unit() -> None:
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| (\w+) \|", DOC.read_text("utf-8"), re.M)
    documented = {name: (unit.strip(), kind) for name, unit, kind in rows}
    actual = {q.name: (q.unit or "–", q.kind) for q in QUANTITIES.values()}
    assert documented == actual


@pytest.mark.parametrize(
    ("value", "unit", "quantity", "expected"),
    [
        (293.15, "K", "temperature", 20.0),
        (68.0, "°F", "temperature", 20.0),
        (101.3, "kPa", "pressure", 1013.0),
        (1.5, "kWh", "energy", 1500.0),
        (250.0, "mV", "voltage", 0.25),
        (36.0, "km/h", "speed", 10.0),
    ],
)
def test_conversions(value: float, unit: str, quantity: str, expected: float) -> None:
    assert math.isclose(convert(value, unit, quantity), expected, rel_tol=1e-9)


def test_unknown_conversion_is_an_error() -> None:
    with pytest.raises(UnitError, match="cannot convert 'ppm' to '°C'"):
        convert(1.0, "ppm", "temperature")
