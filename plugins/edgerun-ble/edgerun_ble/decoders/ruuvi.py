"""RuuviTag data format 5 (RAWv2): manufacturer data of company 0x0499.

24 bytes, all big-endian: format byte 0x05, temperature, humidity, pressure, acceleration
X/Y/Z, power info (battery voltage and TX power), movement counter, measurement sequence
and the tag's MAC. Each field has a "not available" code; such a field is left out of the
result rather than turned into a number. The measurement sequence is the dedupe counter.
Other data formats (the first byte) are reported as unknown.
"""

from __future__ import annotations

import struct
from typing import Final

from edgerun.api import convert
from edgerun_ble.decoders.base import BadLength, Decoded, Measurement, Source, UnknownFormat

COMPANY_ID: Final = 0x0499
FORMAT_5: Final = 0x05
LENGTH: Final = 24
_LAYOUT: Final = struct.Struct(">BhHHhhhHBH6s")
_STANDARD_GRAVITY: Final = 9.80665  # m/s² per g

_NA_SIGNED: Final = -0x8000
_NA_U16: Final = 0xFFFF


def _r(value: float) -> float:
    return round(value, 9)


class RuuviDecoder:
    """Decoder for RuuviTag manufacturer data, data format 5."""

    name = "ruuvi"
    service_uuids: tuple[str, ...] = ()
    company_ids: tuple[int, ...] = (COMPANY_ID,)

    def decode(self, payload: bytes, source: Source) -> Decoded:
        if not payload:
            raise BadLength("empty Ruuvi payload")
        if payload[0] != FORMAT_5:
            raise UnknownFormat(f"Ruuvi data format 0x{payload[0]:02x} is not supported")
        if len(payload) != LENGTH:
            raise BadLength(f"Ruuvi format 5 is {LENGTH} bytes, got {len(payload)}")
        (_, temp, hum, pres, ax, ay, az, power, movement, seq, mac) = _LAYOUT.unpack(payload)
        out: list[Measurement] = []
        if temp != _NA_SIGNED:
            out.append(Measurement("temperature", "temperature", _r(temp * 0.005), "°C"))
        if hum != _NA_U16:
            out.append(Measurement("humidity", "relative_humidity", _r(hum * 0.0025), "%"))
        if pres != _NA_U16:
            hpa = convert(pres + 50000, "Pa", "pressure")
            out.append(Measurement("pressure", "pressure", _r(hpa), "hPa"))
        for axis, raw in (("x", ax), ("y", ay), ("z", az)):
            if raw != _NA_SIGNED:
                # milli-g to m/s²; the core has no g unit to convert from.
                value = _r(raw / 1000 * _STANDARD_GRAVITY)
                out.append(Measurement(f"acceleration_{axis}", "acceleration", value, "m/s²"))
        battery_mv = power >> 5
        tx_code = power & 0x1F
        if battery_mv != 0x7FF:
            volts = convert(battery_mv + 1600, "mV", "voltage")
            out.append(Measurement("battery_voltage", "voltage", _r(volts), "V"))
        if tx_code != 0x1F:
            out.append(Measurement("tx_power", "tx_power", tx_code * 2 - 40, "dBm"))
        if movement != 0xFF:
            out.append(Measurement("movement_counter", "count_total", movement, ""))
        if seq != _NA_U16:
            out.append(Measurement("measurement_sequence", None, seq, ""))
        if mac != b"\xff" * 6:
            out.append(Measurement("mac", None, mac.hex(":").upper(), ""))
        return Decoded(
            format=self.name,
            measurements=tuple(out),
            counter=None if seq == _NA_U16 else seq,
        )


__all__ = ["COMPANY_ID", "RuuviDecoder"]
