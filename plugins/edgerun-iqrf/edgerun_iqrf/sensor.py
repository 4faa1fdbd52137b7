"""IQRF Standard Sensor (PNUM 0x5E): sensor types, value decoding and sensor FRC results.

Each type id maps to an edgerun quantity name and its canonical unit (edgerun/quantities.py),
the raw width and scaling, the error value (decoded to ``None``) and the FRC widths it
supports. Types without an edgerun quantity of their own (bit fields, four raw bytes, data
blocks, the date/time word) are reported as ``raw``: a hex string.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Final, TypeAlias

import msgspec

from edgerun_iqrf.errors import DpaFormatError

SensorValue: TypeAlias = float | int | bool | str | None

#: FRC commands of the standard, one per result width.
FRC_2BIT: Final = 0x10
FRC_1BYTE: Final = 0x90
FRC_2BYTE: Final = 0xE0
FRC_4BYTE: Final = 0xF9

TYPE_DATA_BLOCK: Final = 0xC0
MAX_SENSORS: Final = 32


class FrcStatus(IntEnum):
    """The reserved FRC values 0-3, the same in every width."""

    NO_RESPONSE = 0
    NOT_IMPLEMENTED = 1
    SENSOR_ERROR = 2
    RESERVED = 3


def _s16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


class SensorType(msgspec.Struct, frozen=True):
    """One quantity of the standard."""

    id: int
    name: str
    quantity: str
    unit: str
    decode: Callable[[bytes], SensorValue]
    #: FRC command -> decoder of the FRC value (already known not to be 0-3).
    frc: dict[int, Callable[[int], SensorValue]]

    @property
    def width(self) -> int | None:
        return value_width(self.id)


def value_width(type_id: int) -> int | None:
    """Bytes of a value of ``type_id``; ``None`` for length-prefixed data blocks."""
    if 0x01 <= type_id <= 0x7F:
        return 2
    if 0x80 <= type_id <= 0x9F:
        return 1
    if 0xA0 <= type_id <= 0xBF:
        return 4
    if type_id >= TYPE_DATA_BLOCK:
        return None
    raise DpaFormatError(f"sensor type {type_id:#04x} is not a quantity")


def _u16(data: bytes) -> int:
    return data[0] | (data[1] << 8)


def _u32(data: bytes) -> int:
    return int.from_bytes(data[:4], "little")


def _lin_s16(scale: float, err: int = 0x8000) -> Callable[[bytes], SensorValue]:
    def decode(data: bytes) -> SensorValue:
        raw = _u16(data)
        return None if raw == err else _s16(raw) / scale

    return decode


def _lin_u16(scale: float, err: int, offset: float = 0.0) -> Callable[[bytes], SensorValue]:
    def decode(data: bytes) -> SensorValue:
        raw = _u16(data)
        if raw == err:
            return None
        return raw if scale == 1 and offset == 0 else raw / scale + offset

    return decode


def _lin_u8(scale: float, err: int, offset: float = 0.0) -> Callable[[bytes], SensorValue]:
    def decode(data: bytes) -> SensorValue:
        raw = data[0]
        if raw == err:
            return None
        return raw if scale == 1 and offset == 0 else raw / scale + offset

    return decode


def _u32_err(scale: float = 1) -> Callable[[bytes], SensorValue]:
    def decode(data: bytes) -> SensorValue:
        raw = _u32(data)
        if raw == 0xFFFFFFFF:
            return None
        return raw if scale == 1 else raw / scale

    return decode


def _f32(data: bytes) -> SensorValue:
    value: float = struct.unpack("<f", data[:4])[0]
    return None if math.isnan(value) or math.isinf(value) else value


def _rssi(data: bytes) -> SensorValue:
    return None if data[0] == 0xFF else (data[0] - 254) / 2


def _binary7(data: bytes) -> SensorValue:
    return None if data[0] & 0x80 else f"{data[0]:#04x}"


def _binary30(data: bytes) -> SensorValue:
    raw = _u32(data)
    return None if raw & 0x80000000 else f"{raw & 0x3FFFFFFF:#010x}"


def _binary_input(data: bytes) -> SensorValue:
    raw = _u16(data)
    return None if raw & 0x8000 else raw != 0


def _hex32(data: bytes) -> SensorValue:
    raw = _u32(data)
    return None if raw == 0xFFFFFFFF else f"{raw:#010x}"


def _latlon(data: bytes) -> SensorValue:
    degrees, minutes_byte = data[3], data[2]
    if degrees == 0xFF or not minutes_byte & 0x40:
        return None
    minutes = (minutes_byte & 0x3F) + _u16(data) / 10000
    value = degrees + minutes / 60
    return -value if minutes_byte & 0x80 else value


# ---------------------------------------------------------------- FRC value decoders


def _frc_minus4(scale: float = 1, offset: float = 0.0) -> Callable[[int], SensorValue]:
    def decode(frc: int) -> SensorValue:
        raw = frc - 4
        return raw if scale == 1 and offset == 0 else raw / scale + offset

    return decode


def _frc_xor8000(scale: float) -> Callable[[int], SensorValue]:
    def decode(frc: int) -> SensorValue:
        return _s16(frc ^ 0x8000) / scale

    return decode


def _frc_temp_1b(frc: int) -> SensorValue:
    return frc / 2 - 22


def _frc_co2_1b(frc: int) -> SensorValue:
    return (frc - 4) * 16


def _frc_rssi_1b(frc: int) -> SensorValue:
    return (frc - 258) / 2


def _frc_bit(frc: int) -> SensorValue:
    return frc == 3


def _frc_binary7_1b(frc: int) -> SensorValue:
    return f"{frc - 4:#04x}"


def _frc_hex_minus4(frc: int) -> SensorValue:
    return f"{frc - 4:#010x}"


def _frc_binary30(frc: int) -> SensorValue:
    return f"{(frc - 4) & 0x3FFFFFFF:#010x}"


def _frc_float(frc: int) -> SensorValue:
    value: float = struct.unpack("<f", (frc - 4).to_bytes(4, "little"))[0]
    return None if math.isnan(value) else value


def _frc_latlon(frc: int) -> SensorValue:
    return _latlon(frc.to_bytes(4, "little"))


def _std_u16(
    type_id: int,
    name: str,
    quantity: str,
    unit: str,
    scale: float,
    err: int,
    offset: float = 0.0,
) -> SensorType:
    return SensorType(
        type_id,
        name,
        quantity,
        unit,
        _lin_u16(scale, err, offset),
        {FRC_2BYTE: _frc_minus4(scale, offset)},
    )


def _std_s16(type_id: int, name: str, quantity: str, unit: str, scale: float) -> SensorType:
    return SensorType(
        type_id, name, quantity, unit, _lin_s16(scale), {FRC_2BYTE: _frc_xor8000(scale)}
    )


def _std_u8(
    type_id: int, name: str, quantity: str, unit: str, scale: float, err: int
) -> SensorType:
    return SensorType(
        type_id, name, quantity, unit, _lin_u8(scale, err), {FRC_1BYTE: _frc_minus4(scale)}
    )


_TYPES: list[SensorType] = [
    SensorType(
        0x01,
        "Temperature",
        "temperature",
        "°C",
        _lin_s16(16),
        {FRC_1BYTE: _frc_temp_1b, FRC_2BYTE: _frc_xor8000(16)},
    ),
    SensorType(
        0x02,
        "Carbon dioxide",
        "co2",
        "ppm",
        _lin_u16(1, 0x8000),
        {FRC_1BYTE: _frc_co2_1b, FRC_2BYTE: _frc_minus4()},
    ),
    SensorType(
        0x03,
        "Volatile organic compound",
        "voc",
        "ppm",
        _lin_u16(1, 0x8000),
        {FRC_1BYTE: _frc_co2_1b, FRC_2BYTE: _frc_minus4()},
    ),
    _std_s16(0x04, "Extra-low voltage", "voltage", "V", 1000),
    _std_s16(0x05, "Earth's magnetic field", "magnetic_field", "T", 10_000_000),
    _std_s16(0x06, "Low voltage", "voltage", "V", 16),
    _std_s16(0x07, "Current", "current", "A", 1000),
    _std_u16(0x08, "Power", "power", "W", 4, 0xFFFF),
    _std_u16(0x09, "Mains frequency", "frequency", "Hz", 1000, 0xFFFF),
    _std_u16(0x0A, "Timespan", "duration", "s", 1, 0xFFFF),
    _std_u16(0x0B, "Illuminance", "illuminance", "lx", 1, 0xFFFF),
    _std_u16(0x0C, "Nitrogen dioxide", "no2", "ppm", 1000, 0xFFFF),
    _std_u16(0x0D, "Sulfur dioxide", "so2", "ppm", 1000, 0xFFFF),
    _std_u16(0x0E, "Carbon monoxide", "co", "ppm", 100, 0xFFFF),
    _std_u16(0x0F, "Ozone", "o3", "ppm", 10000, 0xFFFF),
    _std_u16(0x10, "Atmospheric pressure", "pressure", "hPa", 16, 0xFFFF),
    _std_u16(0x11, "Color temperature", "color_temperature", "K", 1, 0x8000),
    _std_u16(0x12, "Particulates PM2.5", "pm2_5", "µg/m³", 4, 0x8000),
    _std_u16(0x13, "Sound pressure level", "sound_pressure", "dB", 16, 0x8000),
    _std_u16(0x14, "Altitude", "altitude", "m", 4, 0xFFFF, offset=-1024),
    _std_s16(0x15, "Acceleration", "acceleration", "m/s²", 256),
    _std_u16(0x16, "Ammonia", "nh3", "ppm", 10, 0xFFFF),
    _std_u16(0x17, "Methane", "ch4", "%", 1000, 0xFFFF),
    _std_u16(0x18, "Short length", "length", "m", 1000, 0xFFFF),
    _std_u16(0x19, "Particulates PM1", "pm1", "µg/m³", 4, 0x8000),
    _std_u16(0x1A, "Particulates PM4", "pm4", "µg/m³", 4, 0x8000),
    _std_u16(0x1B, "Particulates PM10", "pm10", "µg/m³", 4, 0x8000),
    _std_u16(0x1C, "Total volatile organic compound", "tvoc", "µg/m³", 1, 0xFFFF),
    _std_u16(0x1D, "Nitrogen oxides index", "nox_index", "", 1, 0xFFFF),
    _std_u16(0x1E, "Activity concentration", "radon", "Bq/m³", 1, 0xFFFF),
    SensorType(
        0x1F,
        "Binary input",
        "binary",
        "",
        _binary_input,
        {FRC_2BYTE: lambda frc: (frc - 4) != 0},
    ),
    _std_u16(0x20, "Particulates PM40", "pm40", "µg/m³", 4, 0x8000),
    _std_u8(0x80, "Relative humidity", "relative_humidity", "%", 2, 0xEE),
    SensorType(
        0x81,
        "Binary data7",
        "raw",
        "",
        _binary7,
        {FRC_2BIT: _frc_bit, FRC_1BYTE: _frc_binary7_1b},
    ),
    _std_u8(0x82, "Power factor", "power_factor", "", 200, 0xEE),
    _std_u8(0x83, "UV index", "uv_index", "", 8, 0xFF),
    _std_u8(0x84, "pH", "ph", "", 16, 0xFF),
    SensorType(0x85, "RSSI", "rssi", "dBm", _rssi, {FRC_1BYTE: _frc_rssi_1b}),
    _std_u8(0x86, "Action", "action", "", 1, 0xFB),
    SensorType(
        0xA0,
        "Binary data30",
        "raw",
        "",
        _binary30,
        {FRC_2BYTE: lambda frc: f"{frc - 4:#06x}", FRC_4BYTE: _frc_binary30},
    ),
    SensorType(0xA1, "Consumption", "energy", "Wh", _u32_err(), {FRC_4BYTE: _frc_minus4()}),
    SensorType(0xA2, "Datetime", "raw", "", _hex32, {FRC_4BYTE: _frc_hex_minus4}),
    SensorType(0xA3, "Timespan long", "duration", "s", _u32_err(16), {FRC_4BYTE: _frc_minus4(16)}),
    SensorType(0xA4, "Latitude", "latitude", "°", _latlon, {FRC_4BYTE: _frc_latlon}),
    SensorType(0xA5, "Longitude", "longitude", "°", _latlon, {FRC_4BYTE: _frc_latlon}),
    SensorType(0xA6, "Temperature", "temperature", "°C", _f32, {FRC_4BYTE: _frc_float}),
    SensorType(0xA7, "Length", "length", "m", _f32, {FRC_4BYTE: _frc_float}),
    SensorType(0xA8, "Four bytes", "raw", "", _hex32, {FRC_4BYTE: _frc_hex_minus4}),
    SensorType(0xC0, "Data block", "raw", "", lambda data: data.hex(), {}),
]

#: Every type of the standard by id.
SENSOR_TYPES: Final[dict[int, SensorType]] = {t.id: t for t in _TYPES}


def sensor_type(type_id: int) -> SensorType:
    """Return the type entry; unknown ids get a ``raw`` entry of the right width.

    :raises DpaFormatError: ``type_id`` 0 (no sensor).
    """
    known = SENSOR_TYPES.get(type_id)
    if known is not None:
        return known
    width = value_width(type_id)
    return SensorType(
        type_id,
        f"Unknown {type_id:#04x}",
        "raw",
        "",
        (lambda data: data.hex()) if width is None else (lambda data: data[:width].hex()),
        {},
    )


class SensorReading(msgspec.Struct, frozen=True, gc=False):
    """One decoded sensor value; ``value`` is ``None`` for the type's error value."""

    index: int
    type: int
    quantity: str
    unit: str
    value: SensorValue
    raw: bytes

    def as_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "type": self.type,
            "quantity": self.quantity,
            "unit": self.unit,
            "value": self.value,
        }


def _take_value(pdata: bytes, pos: int, type_id: int) -> tuple[bytes, int]:
    width = value_width(type_id)
    if width is None:
        if pos >= len(pdata):
            raise DpaFormatError("data block without its length byte", pdata)
        width = pdata[pos]
        pos += 1
    end = pos + width
    if end > len(pdata):
        raise DpaFormatError(f"value of sensor type {type_id:#04x} is truncated", pdata)
    return pdata[pos:end], end


def decode_value(type_id: int, raw: bytes) -> SensorValue:
    """Decode one raw value of ``type_id`` (``None`` for the error value)."""
    return sensor_type(type_id).decode(raw)


def decode_with_types(pdata: bytes, indexes: Sequence[int] | None = None) -> list[SensorReading]:
    """Decode a ReadSensorsWithTypes response (type byte, value, type byte, value, ...).

    ``indexes`` names the sensor index of each entry in order (from the request bitmap);
    without it entries are numbered 0, 1, 2, ...

    :raises DpaFormatError: a truncated value, a type 0, or more entries than indexes.
    """
    out: list[SensorReading] = []
    pos = 0
    while pos < len(pdata):
        type_id = pdata[pos]
        if type_id == 0:
            raise DpaFormatError("sensor type 0 in a ReadSensorsWithTypes response", pdata)
        raw, pos = _take_value(pdata, pos + 1, type_id)
        n = len(out)
        if indexes is not None and n >= len(indexes):
            raise DpaFormatError("more sensor values than requested", pdata)
        if n >= MAX_SENSORS:
            raise DpaFormatError("more than 32 sensor values", pdata)
        st = sensor_type(type_id)
        index = indexes[n] if indexes is not None else n
        out.append(SensorReading(index, type_id, st.quantity, st.unit, st.decode(raw), raw))
    return out


def decode_without_types(
    pdata: bytes, types: Sequence[int], indexes: Sequence[int] | None = None
) -> list[SensorReading]:
    """Decode a ReadSensors response given the type of each selected sensor, in order.

    :raises DpaFormatError: the data does not match the types.
    """
    out: list[SensorReading] = []
    pos = 0
    for n, type_id in enumerate(types):
        raw, pos = _take_value(pdata, pos, type_id)
        st = sensor_type(type_id)
        index = indexes[n] if indexes is not None and n < len(indexes) else n
        out.append(SensorReading(index, type_id, st.quantity, st.unit, st.decode(raw), raw))
    if pos != len(pdata):
        raise DpaFormatError(f"{len(pdata) - pos} bytes left after the sensor values", pdata)
    return out


def decode_enumerate(pdata: bytes) -> list[int]:
    """Decode an Enumerate response: the type of each sensor in index order.

    :raises DpaFormatError: more than 32 sensors or a type 0.
    """
    if len(pdata) > MAX_SENSORS:
        raise DpaFormatError(f"{len(pdata)} sensors exceed 32", pdata)
    if 0 in pdata:
        raise DpaFormatError("sensor type 0 in an Enumerate response", pdata)
    return list(pdata)


def bitmap32(indexes: Sequence[int]) -> bytes:
    """The 4-byte LE sensor bitmap selecting ``indexes``."""
    value = 0
    for i in indexes:
        if not 0 <= i < MAX_SENSORS:
            raise DpaFormatError(f"sensor index {i} out of range")
        value |= 1 << i
    return value.to_bytes(4, "little")


# -------------------------------------------------------------------------- FRC


def frc_command_for(type_id: int) -> int | None:
    """The FRC command that carries ``type_id`` without losing precision, or ``None``.

    The width matching the value's own width wins (2 bytes for temperature and CO2, whose
    1-byte forms round to 0.5 °C and 16 ppm); otherwise the only width the type has.
    """
    st = SENSOR_TYPES.get(type_id)
    if st is None or not st.frc:
        return None
    own = {1: FRC_1BYTE, 2: FRC_2BYTE, 4: FRC_4BYTE}.get(st.width or 0)
    if own in st.frc:
        return own
    for cmd in (FRC_4BYTE, FRC_2BYTE, FRC_1BYTE, FRC_2BIT):
        if cmd in st.frc:
            return cmd
    return None


def frc_user_data(type_id: int, index: int, ext: int = 0) -> bytes:
    """UserData of a sensor FRC: PNUM 0x5E, type, index (bits 0-4) + extra bits 5-7, options."""
    if not 0 <= index < MAX_SENSORS or not 0 <= ext <= 7:
        raise DpaFormatError("sensor index or FRC extra bits out of range")
    return bytes((0x5E, type_id, index | (ext << 5), 0))


class FrcSensorValue(msgspec.Struct, frozen=True, gc=False):
    """One node's sensor FRC value: a reserved status, or ``DATA`` with the decoded value."""

    node: int
    status: FrcStatus | None
    value: SensorValue
    raw: int

    @property
    def ok(self) -> bool:
        return self.status is None


def decode_frc_value(type_id: int, command: int, node: int, raw: int) -> FrcSensorValue:
    """Decode one FRC value; values 0-3 (2-bit: 0-1) become a :class:`FrcStatus`."""
    if command == FRC_2BIT:
        if raw < 2:
            return FrcSensorValue(node, FrcStatus(raw), None, raw)
    elif raw < 4:
        return FrcSensorValue(node, FrcStatus(raw), None, raw)
    st = SENSOR_TYPES.get(type_id)
    decoder = st.frc.get(command) if st is not None else None
    if decoder is None:
        raise DpaFormatError(f"FRC command {command:#04x} does not carry type {type_id:#04x}")
    return FrcSensorValue(node, None, decoder(raw), raw)
