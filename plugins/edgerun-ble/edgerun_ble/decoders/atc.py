"""Xiaomi LYWSD03MMC with atc1441 or pvvx custom firmware (service data 0x181A).

The four layouts are told apart by length:

* 13 bytes, atc1441: MAC (display order), temperature int16 BE x 0.1 °C, humidity %,
  battery %, battery mV uint16 BE, frame counter — big-endian.
* 15 bytes, pvvx "custom": MAC (reversed), temperature int16 x 0.01 °C, humidity uint16
  x 0.01 %, battery mV, battery %, counter, flags — little-endian.
* 11 bytes, pvvx encrypted and 8 bytes, atc1441 encrypted: counter byte, ciphertext,
  4-byte tag; AES-CCM with associated data 0x11 and nonce
  ``MAC reversed | len + 3 | 16 1A 18 | counter``.

The embedded MAC of the plaintext layouts must be the sender's address (a mismatch means a
mixed-up or relayed frame and is rejected). The one-byte frame counter wraps; it serves
dedupe and, for encrypted frames, a wrap-aware replay check in the pipeline.
"""

from __future__ import annotations

import struct
from typing import Final

from edgerun.api import convert
from edgerun_ble.decoders import ccm
from edgerun_ble.decoders.base import (
    AddressMismatch,
    BadLength,
    Decoded,
    KeyMissing,
    Measurement,
    PlaintextRejected,
    Source,
    address_bytes,
    normalize_uuid,
)

UUID: Final = normalize_uuid("181a")
_ATC1441: Final = struct.Struct(">6shBBHB")
_PVVX: Final = struct.Struct("<6shHHBBB")
_PVVX_PLAIN: Final = struct.Struct("<hHBB")
_AAD: Final = b"\x11"
_UUID_TAIL: Final = b"\x16\x1a\x18"
_LENGTHS: Final = "13 (atc1441), 15 (pvvx), 11 (pvvx encrypted) or 8 (atc1441 encrypted)"


def _r(value: float) -> float:
    return round(value, 9)


def _battery(out: list[Measurement], percent: int) -> None:
    if 0 <= percent <= 100:
        out.append(Measurement("battery", "battery", percent, "%"))


class ATCDecoder:
    """Decoder for the atc1441 and pvvx custom firmware formats, plain and encrypted."""

    name = "atc"
    service_uuids: tuple[str, ...] = (UUID,)
    company_ids: tuple[int, ...] = ()

    def decode(self, payload: bytes, source: Source) -> Decoded:
        size = len(payload)
        if size in (13, 15):
            if source.key is not None:
                raise PlaintextRejected(
                    f"plaintext ATC frame from {source.address}, which has a bindkey"
                )
            return self._atc1441(payload, source) if size == 13 else self._pvvx(payload, source)
        if size in (8, 11):
            return self._encrypted(payload, source)
        raise BadLength(f"0x181A payload of {size} bytes; expected {_LENGTHS}")

    def _check_mac(self, embedded: bytes, source: Source) -> None:
        if embedded != address_bytes(source.address):
            shown = embedded.hex(":").upper()
            raise AddressMismatch(f"frame carries MAC {shown}, sender is {source.address}")

    def _atc1441(self, payload: bytes, source: Source) -> Decoded:
        mac, temp, hum, batt, mv, counter = _ATC1441.unpack(payload)
        self._check_mac(mac, source)
        out = [
            Measurement("temperature", "temperature", _r(temp * 0.1), "°C"),
            Measurement("humidity", "relative_humidity", hum, "%"),
        ]
        _battery(out, batt)
        out.append(Measurement("battery_voltage", "voltage", _r(convert(mv, "mV", "voltage")), "V"))
        return Decoded("atc1441", tuple(out), counter=counter)

    def _pvvx(self, payload: bytes, source: Source) -> Decoded:
        mac, temp, hum, mv, batt, counter, flags = _PVVX.unpack(payload)
        self._check_mac(mac[::-1], source)
        out = [
            Measurement("temperature", "temperature", _r(temp * 0.01), "°C"),
            Measurement("humidity", "relative_humidity", _r(hum * 0.01), "%"),
            Measurement("battery_voltage", "voltage", _r(convert(mv, "mV", "voltage")), "V"),
        ]
        _battery(out, batt)
        out.append(Measurement("flags", None, flags, ""))
        return Decoded("pvvx", tuple(out), counter=counter)

    def _encrypted(self, payload: bytes, source: Source) -> Decoded:
        fmt = "pvvx" if len(payload) == 11 else "atc1441"
        if source.key is None:
            raise KeyMissing(f"encrypted {fmt} frame from {source.address}, no bindkey")
        counter = payload[0]
        nonce = (
            address_bytes(source.address)[::-1]
            + bytes([len(payload) + 3])
            + _UUID_TAIL
            + payload[:1]
        )
        plain = ccm.decrypt(source.key, nonce, payload[1:-4], payload[-4:], _AAD)
        out: list[Measurement] = []
        if fmt == "pvvx":
            temp, hum, batt, flags = _PVVX_PLAIN.unpack(plain)
            out.append(Measurement("temperature", "temperature", _r(temp * 0.01), "°C"))
            out.append(Measurement("humidity", "relative_humidity", _r(hum * 0.01), "%"))
            _battery(out, batt)
            out.append(Measurement("flags", None, flags, ""))
        else:
            out.append(Measurement("temperature", "temperature", plain[0] / 2 - 40.0, "°C"))
            out.append(Measurement("humidity", "relative_humidity", plain[1] / 2, "%"))
            _battery(out, plain[2] & 0x7F)
            out.append(Measurement("trigger", "binary", bool(plain[2] >> 7), ""))
        return Decoded(
            fmt,
            tuple(out),
            counter=counter,
            crypto_counter=counter,
            encrypted=True,
            counter_bits=8,
        )


def encode_encrypted(address: str, key: bytes, plain: bytes, counter: int) -> bytes:
    """Build an encrypted pvvx (6-byte plaintext) or atc1441 (3-byte) frame, for tests."""
    size = 1 + len(plain) + 4
    nonce = address_bytes(address)[::-1] + bytes([size + 3]) + _UUID_TAIL + bytes([counter])
    body, tag = ccm.encrypt(key, nonce, plain, _AAD)
    return bytes([counter]) + body + tag


__all__ = ["UUID", "ATCDecoder", "encode_encrypted"]
