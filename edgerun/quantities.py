"""The vocabulary of quantities and their canonical units.

Every reading names one quantity from :data:`QUANTITIES`; its value is expressed in that
quantity's canonical unit. Drivers that receive other units convert with :func:`convert`
(or pass the unit and let the normalizer convert). docs/quantities.md mirrors this table;
``tests/test_quantities.py`` fails when the two disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import msgspec

Kind = Literal["number", "bool", "str"]


class Quantity(msgspec.Struct, frozen=True):
    """One entry of the vocabulary."""

    name: str
    unit: str
    kind: Kind
    description: str


def _q(name: str, unit: str, description: str, kind: Kind = "number") -> Quantity:
    return Quantity(name, unit, kind, description)


#: The documented vocabulary. Units follow SI or the unit sensor datasheets use
#: (hPa, ppm, Wh) so that dashboards need no scaling.
QUANTITIES: Final[dict[str, Quantity]] = {
    q.name: q
    for q in (
        _q("temperature", "°C", "Air, surface or liquid temperature"),
        _q("dew_point", "°C", "Dew point temperature"),
        _q("relative_humidity", "%", "Relative humidity, 0-100"),
        _q("moisture", "%", "Soil or material moisture, 0-100"),
        _q("co2", "ppm", "Carbon dioxide concentration"),
        _q("voc", "ppm", "Volatile organic compounds, equivalent concentration"),
        _q("tvoc", "µg/m³", "Total volatile organic compounds, mass concentration"),
        _q("nox_index", "", "NOx index (dimensionless)"),
        _q("no2", "ppm", "Nitrogen dioxide concentration"),
        _q("so2", "ppm", "Sulphur dioxide concentration"),
        _q("co", "ppm", "Carbon monoxide concentration"),
        _q("o3", "ppm", "Ozone concentration"),
        _q("nh3", "ppm", "Ammonia concentration"),
        _q("ch4", "%", "Methane, volume fraction"),
        _q("pm1", "µg/m³", "Particulate matter below 1 µm"),
        _q("pm2_5", "µg/m³", "Particulate matter below 2.5 µm"),
        _q("pm4", "µg/m³", "Particulate matter below 4 µm"),
        _q("pm10", "µg/m³", "Particulate matter below 10 µm"),
        _q("pm40", "µg/m³", "Particulate matter below 40 µm"),
        _q("radon", "Bq/m³", "Activity concentration"),
        _q("pressure", "hPa", "Atmospheric pressure"),
        _q("altitude", "m", "Altitude above sea level"),
        _q("length", "m", "Length or distance"),
        _q("illuminance", "lx", "Illuminance"),
        _q("color_temperature", "K", "Correlated colour temperature"),
        _q("uv_index", "", "UV index"),
        _q("sound_pressure", "dB", "Sound pressure level"),
        _q("voltage", "V", "Electric potential"),
        _q("current", "A", "Electric current"),
        _q("power", "W", "Active power"),
        _q("power_factor", "", "Power factor, 0-1"),
        _q("energy", "Wh", "Energy, cumulative"),
        _q("frequency", "Hz", "Frequency, e.g. of the mains"),
        _q("magnetic_field", "T", "Magnetic flux density"),
        _q("acceleration", "m/s²", "Acceleration"),
        _q("speed", "m/s", "Speed"),
        _q("rotation", "°", "Angle of rotation"),
        _q("direction", "°", "Heading or wind direction, degrees from north"),
        _q("angular_velocity", "°/s", "Angular velocity (gyroscope)"),
        _q("rotational_speed", "rpm", "Rotational speed"),
        _q("precipitation", "mm", "Precipitation amount"),
        _q("latitude", "°", "Latitude, WGS84 degrees"),
        _q("longitude", "°", "Longitude, WGS84 degrees"),
        _q("mass", "kg", "Mass"),
        _q("volume", "m³", "Volume"),
        _q("volume_flow", "m³/h", "Volume flow rate"),
        _q("conductivity", "µS/cm", "Electrical conductivity"),
        _q("ph", "", "Acidity, pH"),
        _q("duration", "s", "Timespan or duration"),
        _q("battery", "%", "Battery charge level, 0-100"),
        _q("rssi", "dBm", "Received signal strength"),
        _q("tx_power", "dBm", "Transmit power a device reports"),
        _q("count", "", "Number of events in the reporting interval"),
        _q("count_total", "", "Running total of events"),
        _q("binary", "", "On/off, open/closed, motion/no motion", "bool"),
        _q("action", "", "Button action or event code", "number"),
        _q("raw", "", "Opaque value: bit fields, hex strings", "str"),
        _q("text", "", "Free text reported by a device", "str"),
        _q("status", "", "Health or state of a device, e.g. 'ok', 'unreachable'", "str"),
    )
}

_LINEAR: Final[dict[tuple[str, str], tuple[float, float]]] = {
    # (from unit, to unit): (factor, offset) with to = from * factor + offset
    ("K", "°C"): (1.0, -273.15),
    ("Pa", "hPa"): (0.01, 0.0),
    ("kPa", "hPa"): (10.0, 0.0),
    ("mbar", "hPa"): (1.0, 0.0),
    ("bar", "hPa"): (1000.0, 0.0),
    ("lux", "lx"): (1.0, 0.0),
    ("mV", "V"): (0.001, 0.0),
    ("mA", "A"): (0.001, 0.0),
    ("kW", "W"): (1000.0, 0.0),
    ("kWh", "Wh"): (1000.0, 0.0),
    ("MWh", "Wh"): (1_000_000.0, 0.0),
    ("ppb", "ppm"): (0.001, 0.0),
    ("mm", "m"): (0.001, 0.0),
    ("cm", "m"): (0.01, 0.0),
    ("km", "m"): (1000.0, 0.0),
    ("g", "kg"): (0.001, 0.0),
    ("lb", "kg"): (0.45359237, 0.0),
    ("L", "m³"): (0.001, 0.0),
    ("mL", "m³"): (1e-6, 0.0),
    ("cm", "mm"): (10.0, 0.0),
    ("in", "mm"): (25.4, 0.0),
    ("ms", "s"): (0.001, 0.0),
    ("min", "s"): (60.0, 0.0),
    ("h", "s"): (3600.0, 0.0),
    ("kHz", "Hz"): (1000.0, 0.0),
    ("µT", "T"): (1e-6, 0.0),
    ("m³/s", "m³/h"): (3600.0, 0.0),
    ("L/s", "m³/h"): (3.6, 0.0),
    ("L/min", "m³/h"): (0.06, 0.0),
    ("km/h", "m/s"): (1 / 3.6, 0.0),
    ("mS/cm", "µS/cm"): (1000.0, 0.0),
    ("%RH", "%"): (1.0, 0.0),
}


def _fahrenheit(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


_SPECIAL: Final[dict[tuple[str, str], Callable[[float], float]]] = {
    ("°F", "°C"): _fahrenheit,
}


class UnitError(ValueError):
    """A value cannot be expressed in the canonical unit of its quantity."""


def canonical_unit(quantity: str) -> str:
    """Return the canonical unit of ``quantity``.

    :raises KeyError: the quantity is not in the vocabulary.
    """
    return QUANTITIES[quantity].unit


def convert(value: float, from_unit: str, quantity: str) -> float:
    """Convert ``value`` from ``from_unit`` to the canonical unit of ``quantity``.

    :raises KeyError: the quantity is unknown.
    :raises UnitError: no conversion from ``from_unit`` is known.
    """
    to_unit = QUANTITIES[quantity].unit
    if from_unit == to_unit:
        return value
    linear = _LINEAR.get((from_unit, to_unit))
    if linear is not None:
        factor, offset = linear
        return value * factor + offset
    special = _SPECIAL.get((from_unit, to_unit))
    if special is not None:
        return special(value)
    raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r} for quantity {quantity!r}")


__all__ = ["QUANTITIES", "Quantity", "UnitError", "canonical_unit", "convert"]
