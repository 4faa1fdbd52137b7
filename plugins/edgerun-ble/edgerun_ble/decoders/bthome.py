"""BTHome v2 (service data 0xFCD2): plain and AES-CCM encrypted frames.

Layout: one device-info byte (bit 0 encrypted, bit 2 trigger-based, bits 5-7 version,
which must be 2), then objects: an id byte and a fixed-length little-endian value whose
length the id implies; text (0x53) and raw (0x54) carry a length byte. Because the length
comes from the id, parsing stops at the first unknown id: everything after it is
unreadable. A repeated id is another instance of the same field (``index`` 1, 2, ...).

Encrypted frames are ``info | ciphertext | counter (uint32 LE) | tag (4)``, nonce
``MAC | D2 FC | info | counter``, no associated data. The counter is returned as
``crypto_counter``; the pipeline enforces that it increases. A plaintext frame from a
device that has a key is rejected (a downgrade would otherwise bypass authentication).

Object table: the current bthome.io format table, as bthome-ble implements it (precipitation
0x5F with factor 0.1, the library's value; the format page once said 1).
"""

from __future__ import annotations

import struct
from typing import Final, Literal

import msgspec

from edgerun.api import canonical_unit, convert
from edgerun_ble.decoders import ccm
from edgerun_ble.decoders.base import (
    BadLength,
    Decoded,
    KeyMissing,
    Measurement,
    PlaintextRejected,
    Source,
    UnknownFormat,
    address_bytes,
    normalize_uuid,
)

UUID: Final = normalize_uuid("fcd2")
_UUID_BYTES: Final = b"\xd2\xfc"

Kind = Literal["uint", "sint", "binary", "event", "dimmer", "text", "raw", "version"]


class ObjectType(msgspec.Struct, frozen=True, gc=False):
    """How one object id is laid out and what it means."""

    field: str
    quantity: str | None
    kind: Kind
    size: int = 1
    factor: float = 1.0
    #: The unit of ``raw * factor``; converted to the quantity's canonical unit.
    unit: str = ""


def _u(field: str, q: str | None, size: int, factor: float = 1.0, unit: str = "") -> ObjectType:
    return ObjectType(field, q, "uint", size, factor, unit)


def _s(field: str, q: str | None, size: int, factor: float = 1.0, unit: str = "") -> ObjectType:
    return ObjectType(field, q, "sint", size, factor, unit)


def _b(field: str) -> ObjectType:
    return ObjectType(field, "binary", "binary")


#: Object id -> layout. Fields without an edgerun quantity carry ``None`` (see docs/ble.md).
OBJECTS: Final[dict[int, ObjectType]] = {
    0x00: _u("packet_id", None, 1),
    0x01: _u("battery", "battery", 1, 1, "%"),
    0x02: _s("temperature", "temperature", 2, 0.01, "°C"),
    0x03: _u("humidity", "relative_humidity", 2, 0.01, "%"),
    0x04: _u("pressure", "pressure", 3, 0.01, "hPa"),
    0x05: _u("illuminance", "illuminance", 3, 0.01, "lux"),
    0x06: _u("mass", "mass", 2, 0.01, "kg"),
    0x07: _u("mass", "mass", 2, 0.01, "lb"),
    0x08: _s("dew_point", "dew_point", 2, 0.01, "°C"),
    0x09: _u("count", "count", 1),
    0x0A: _u("energy", "energy", 3, 0.001, "kWh"),
    0x0B: _u("power", "power", 3, 0.01, "W"),
    0x0C: _u("voltage", "voltage", 2, 0.001, "V"),
    0x0D: _u("pm2_5", "pm2_5", 2, 1, "µg/m³"),
    0x0E: _u("pm10", "pm10", 2, 1, "µg/m³"),
    0x0F: _b("generic"),
    0x10: _b("power_on"),
    0x11: _b("opening"),
    0x12: _u("co2", "co2", 2, 1, "ppm"),
    0x13: _u("tvoc", "tvoc", 2, 1, "µg/m³"),
    0x14: _u("moisture", "moisture", 2, 0.01, "%"),
    0x15: _b("battery_low"),
    0x16: _b("battery_charging"),
    0x17: _b("carbon_monoxide"),
    0x18: _b("cold"),
    0x19: _b("connectivity"),
    0x1A: _b("door"),
    0x1B: _b("garage_door"),
    0x1C: _b("gas"),
    0x1D: _b("heat"),
    0x1E: _b("light"),
    0x1F: _b("lock"),
    0x20: _b("moisture_detected"),
    0x21: _b("motion"),
    0x22: _b("moving"),
    0x23: _b("occupancy"),
    0x24: _b("plug"),
    0x25: _b("presence"),
    0x26: _b("problem"),
    0x27: _b("running"),
    0x28: _b("safety"),
    0x29: _b("smoke"),
    0x2A: _b("sound"),
    0x2B: _b("tamper"),
    0x2C: _b("vibration"),
    0x2D: _b("window"),
    0x2E: _u("humidity", "relative_humidity", 1, 1, "%"),
    0x2F: _u("moisture", "moisture", 1, 1, "%"),
    0x3A: ObjectType("button", "action", "event"),
    0x3C: ObjectType("dimmer", "action", "dimmer", 2),
    0x3D: _u("count", "count", 2),
    0x3E: _u("count", "count", 4),
    0x3F: _s("rotation", "rotation", 2, 0.1, "°"),
    0x40: _u("distance", "length", 2, 1, "mm"),
    0x41: _u("distance", "length", 2, 0.1, "m"),
    0x42: _u("duration", "duration", 3, 0.001, "s"),
    0x43: _u("current", "current", 2, 0.001, "A"),
    0x44: _u("speed", "speed", 2, 0.01, "m/s"),
    0x45: _s("temperature", "temperature", 2, 0.1, "°C"),
    0x46: _u("uv_index", "uv_index", 1, 0.1),
    0x47: _u("volume", "volume", 2, 0.1, "L"),
    # millilitres: the core has no mL unit, so the factor yields litres directly.
    0x48: _u("volume", "volume", 2, 0.001, "L"),
    0x49: _u("volume_flow", "volume_flow", 2, 0.001, "m³/h"),
    0x4A: _u("voltage", "voltage", 2, 0.1, "V"),
    0x4B: _u("gas", "volume", 3, 0.001, "m³"),
    0x4C: _u("gas", "volume", 4, 0.001, "m³"),
    0x4D: _u("energy", "energy", 4, 0.001, "kWh"),
    0x4E: _u("volume", "volume", 4, 0.001, "L"),
    0x4F: _u("water", "volume", 4, 0.001, "L"),
    0x50: _u("timestamp", None, 4, 1, "s"),
    0x51: _u("acceleration", "acceleration", 2, 0.001, "m/s²"),
    0x52: _u("gyroscope", "angular_velocity", 2, 0.001, "°/s"),
    0x53: ObjectType("text", "text", "text"),
    0x54: ObjectType("raw", "raw", "raw"),
    0x55: _u("volume_storage", "volume", 4, 0.001, "L"),
    0x56: _u("conductivity", "conductivity", 2, 1, "µS/cm"),
    0x57: _s("temperature", "temperature", 1, 1, "°C"),
    0x58: _s("temperature", "temperature", 1, 0.35, "°C"),
    0x59: _s("count", "count", 1),
    0x5A: _s("count", "count", 2),
    0x5B: _s("count", "count", 4),
    0x5C: _s("power", "power", 4, 0.01, "W"),
    0x5D: _s("current", "current", 2, 0.001, "A"),
    0x5E: _u("direction", "direction", 2, 0.01, "°"),
    0x5F: _u("precipitation", "precipitation", 2, 0.1, "mm"),
    0x60: _u("channel", None, 1),
    0x61: _u("rotational_speed", "rotational_speed", 2, 1, "rpm"),
    0x62: _s("speed", "speed", 4, 0.000001, "m/s"),
    0x63: _s("acceleration", "acceleration", 4, 0.000001, "m/s²"),
    0x64: _u("light_level", None, 1),
    0xF0: _u("device_type_id", None, 2),
    0xF1: ObjectType("firmware_version", None, "version", 4),
    0xF2: ObjectType("firmware_version", None, "version", 3),
}

#: Button event codes (object 0x3A), for the CLI and docs.
BUTTON_EVENTS: Final = {
    0x00: "none",
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
    0xFE: "hold_press",
}

_TEXT_IDS: Final = frozenset({0x53, 0x54})
_ENCRYPTED_OVERHEAD: Final = 8  # counter (4) + tag (4)


def _number(raw: int, obj: ObjectType) -> float | int:
    """Scale a raw integer and express it in the quantity's canonical unit."""
    if obj.factor == 1.0 and (obj.quantity is None or not obj.unit):
        return raw
    value = raw * obj.factor
    if obj.quantity is not None and obj.unit:
        value = convert(value, obj.unit, obj.quantity)
    # 25.060000000000002 -> 25.06: the scale factors have at most 6 decimals.
    return round(value, 9)


def parse_objects(data: bytes) -> tuple[list[Measurement], int | None, int]:
    """Parse a (decrypted) object list.

    Returns the measurements, the packet id (object 0x00) if present, and how many bytes
    were consumed (less than ``len(data)`` when an unknown id stopped parsing).

    :raises BadLength: an object runs past the end of the data.
    """
    out: list[Measurement] = []
    seen: dict[str, int] = {}
    packet_id: int | None = None
    pos = 0
    end = len(data)
    while pos < end:
        oid = data[pos]
        obj = OBJECTS.get(oid)
        if obj is None:
            break
        if oid in _TEXT_IDS:
            if pos + 1 >= end:
                raise BadLength(f"BTHome object 0x{oid:02x} lacks its length byte")
            size = data[pos + 1]
            start = pos + 2
        else:
            size = obj.size
            start = pos + 1
        stop = start + size
        if stop > end:
            raise BadLength(
                f"BTHome object 0x{oid:02x} needs {size} bytes, only {end - start} left"
            )
        chunk = data[start:stop]
        pos = stop
        if oid == 0x00:
            packet_id = chunk[0]
            continue
        index = seen.get(obj.field, 0)
        seen[obj.field] = index + 1
        out.extend(_measure(obj, chunk, index))
    return out, packet_id, pos


def _measure(obj: ObjectType, chunk: bytes, index: int) -> list[Measurement]:
    unit = _out_unit(obj)
    kind = obj.kind
    if kind == "uint":
        raw = int.from_bytes(chunk, "little")
        return [Measurement(obj.field, obj.quantity, _number(raw, obj), unit, index)]
    if kind == "sint":
        raw = int.from_bytes(chunk, "little", signed=True)
        return [Measurement(obj.field, obj.quantity, _number(raw, obj), unit, index)]
    if kind == "binary":
        return [Measurement(obj.field, "binary", chunk[0] != 0, "", index)]
    if kind in ("event", "dimmer") and chunk[0] == 0x00:
        return []  # event code 0x00 means "no event"
    if kind == "event":
        return [Measurement(obj.field, "action", chunk[0], "", index)]
    if kind == "dimmer":
        return [
            Measurement("dimmer", "action", chunk[0], "", index),
            Measurement("dimmer_steps", None, chunk[1], "", index),
        ]
    if kind == "text":
        return [Measurement(obj.field, "text", chunk.decode("utf-8", "replace"), "", index)]
    if kind == "raw":
        return [Measurement(obj.field, "raw", chunk.hex(), "", index)]
    # version: most significant part last (little-endian), shown as dotted decimal
    return [Measurement(obj.field, None, ".".join(str(b) for b in reversed(chunk)), "", index)]


def _out_unit(obj: ObjectType) -> str:
    if obj.quantity is None or obj.kind not in ("uint", "sint"):
        return obj.unit if obj.quantity is None else ""
    return canonical_unit(obj.quantity)


class BTHomeDecoder:
    """Decoder for BTHome v2 service data (UUID 0xFCD2)."""

    name = "bthome"
    service_uuids: tuple[str, ...] = (UUID,)
    company_ids: tuple[int, ...] = ()

    def decode(self, payload: bytes, source: Source) -> Decoded:
        if not payload:
            raise BadLength("empty BTHome payload")
        info = payload[0]
        version = info >> 5
        if version != 2:
            raise UnknownFormat(f"BTHome version {version} is not supported (expected 2)")
        encrypted = bool(info & 0x01)
        trigger = bool(info & 0x04)
        crypto_counter: int | None = None
        if encrypted:
            if source.key is None:
                raise KeyMissing(f"encrypted BTHome frame from {source.address}, no bindkey")
            if len(payload) < 1 + _ENCRYPTED_OVERHEAD + 1:
                raise BadLength(f"encrypted BTHome frame too short ({len(payload)} bytes)")
            body = payload[1:-_ENCRYPTED_OVERHEAD]
            counter_bytes = payload[-_ENCRYPTED_OVERHEAD:-4]
            tag = payload[-4:]
            nonce = address_bytes(source.address) + _UUID_BYTES + bytes([info]) + counter_bytes
            data = ccm.decrypt(source.key, nonce, body, tag, None)
            (crypto_counter,) = struct.unpack("<I", counter_bytes)
        else:
            if source.key is not None:
                raise PlaintextRejected(
                    f"plaintext BTHome frame from {source.address}, which has a bindkey"
                )
            data = payload[1:]
        measurements, packet_id, used = parse_objects(data)
        return Decoded(
            format=self.name,
            measurements=tuple(measurements),
            counter=packet_id,
            crypto_counter=crypto_counter,
            encrypted=encrypted,
            trigger_based=trigger,
            skipped=len(data) - used,
        )


def encode_encrypted(
    address: str, key: bytes, objects: bytes, counter: int, info: int = 0x41
) -> bytes:
    """Build an encrypted BTHome v2 service-data payload (for simulators and tests)."""
    counter_bytes = struct.pack("<I", counter)
    nonce = address_bytes(address) + _UUID_BYTES + bytes([info]) + counter_bytes
    body, tag = ccm.encrypt(key, nonce, objects, None)
    return bytes([info]) + body + counter_bytes + tag


__all__ = ["OBJECTS", "UUID", "BTHomeDecoder", "ObjectType", "encode_encrypted", "parse_objects"]
