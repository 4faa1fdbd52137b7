"""Payloads of the embedded peripherals a gateway uses (sans-io).

Coordinator AddrInfo / BondedDevices / DiscoveredDevices, OS Read (short and long layout),
peripheral enumeration, Thermometer, FRC (Send, SendSelective, ExtraResult and the result
buffer in its four widths) and Standard Binary Output. Each ``decode_*`` takes a response's
PData and raises :class:`~edgerun_iqrf.errors.DpaFormatError` when it does not fit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from edgerun_iqrf.errors import DpaFormatError

BITMAP_LEN: Final = 32
FRC_DATA_LEN: Final = 55
FRC_EXTRA_LEN: Final = 9
FRC_BUFFER_LEN: Final = FRC_DATA_LEN + FRC_EXTRA_LEN
FRC_SELECT_LEN: Final = 30
FRC_STATUS_MAX_OK: Final = 0xEF
OS_READ_SHORT_LEN: Final = 28  # MID..IBK; the enumeration part may follow
ENUMERATION_MIN_LEN: Final = 12
#: FRC response time per FrcParams index (ms), bits 4-6 of the parameter byte.
FRC_RESPONSE_TIME_MS: Final = (40, 360, 680, 1320, 2600, 5160, 10280, 20520)


def _need(pdata: bytes, n: int, what: str, exact: bool = False) -> None:
    if len(pdata) < n or (exact and len(pdata) != n):
        rel = "exactly" if exact else "at least"
        raise DpaFormatError(f"{what}: {len(pdata)} bytes, need {rel} {n}", pdata)


def bitmap_to_nodes(bitmap: bytes) -> list[int]:
    """Addresses whose bit is set (bit n of byte n/8 is node n)."""
    return [
        byte_i * 8 + bit
        for byte_i, byte in enumerate(bitmap)
        for bit in range(8)
        if byte >> bit & 1
    ]


def nodes_to_bitmap(nodes: Iterable[int], size: int = BITMAP_LEN) -> bytes:
    """The bitmap of ``size`` bytes selecting ``nodes``."""
    out = bytearray(size)
    for n in nodes:
        if not 0 <= n < size * 8:
            raise DpaFormatError(f"address {n} does not fit a {size}-byte bitmap")
        out[n // 8] |= 1 << (n % 8)
    return bytes(out)


class AddrInfo(msgspec.Struct, frozen=True):
    dev_nr: int
    did: int


def decode_addr_info(pdata: bytes) -> AddrInfo:
    _need(pdata, 2, "AddrInfo")
    return AddrInfo(pdata[0], pdata[1])


def decode_bitmap(pdata: bytes) -> list[int]:
    """BondedDevices / DiscoveredDevices: a 32-byte bitmap."""
    _need(pdata, BITMAP_LEN, "device bitmap", exact=True)
    return bitmap_to_nodes(pdata)


class PeripheralEnumeration(msgspec.Struct, frozen=True):
    dpa_version: int
    user_per_nr: int
    embedded_pers: tuple[int, ...]
    hwpid: int
    hwpid_ver: int
    flags: int
    user_pers: tuple[int, ...]

    @property
    def dpa_version_str(self) -> str:
        return f"{(self.dpa_version >> 8) & 0x7F:x}.{self.dpa_version & 0xFF:02x}"

    @property
    def demo(self) -> bool:
        return bool(self.dpa_version & 0x8000)

    @property
    def std_mode(self) -> bool:
        """True in STD RF mode, False in LP (flags bit 0)."""
        return bool(self.flags & 0x01)

    @property
    def peripherals(self) -> tuple[int, ...]:
        return self.embedded_pers + self.user_pers

    def encode(self) -> bytes:
        embedded = nodes_to_bitmap(self.embedded_pers, 4)
        user = nodes_to_bitmap([p - 0x20 for p in self.user_pers], 12) if self.user_pers else b""
        user = user.rstrip(b"\0")
        return (
            self.dpa_version.to_bytes(2, "little")
            + bytes((self.user_per_nr,))
            + embedded
            + self.hwpid.to_bytes(2, "little")
            + self.hwpid_ver.to_bytes(2, "little")
            + bytes((self.flags,))
            + user
        )


def decode_enumeration(pdata: bytes) -> PeripheralEnumeration:
    """Peripheral enumeration (PNUM 0xFF PCMD 0x3F) and the reset message's payload."""
    _need(pdata, ENUMERATION_MIN_LEN, "peripheral enumeration")
    return PeripheralEnumeration(
        dpa_version=pdata[0] | pdata[1] << 8,
        user_per_nr=pdata[2],
        embedded_pers=tuple(bitmap_to_nodes(pdata[3:7])),
        hwpid=pdata[7] | pdata[8] << 8,
        hwpid_ver=pdata[9] | pdata[10] << 8,
        flags=pdata[11],
        user_pers=tuple(0x20 + n for n in bitmap_to_nodes(pdata[12:])),
    )


class OsInfo(msgspec.Struct, frozen=True):
    mid: int
    os_version: int
    mcu_type: int
    os_build: int
    rssi_dbm: int
    supply_v: float | None
    flags: int
    slot_limits: int
    ibk: bytes
    enumeration: PeripheralEnumeration | None

    @property
    def os_version_str(self) -> str:
        return f"{self.os_version >> 4}.{self.os_version & 0x0F:02d}"

    @property
    def shortest_slot_ms(self) -> int:
        return ((self.slot_limits & 0x0F) + 3) * 10

    @property
    def longest_slot_ms(self) -> int:
        return ((self.slot_limits >> 4) + 3) * 10

    @property
    def uart_interface(self) -> bool:
        return bool(self.flags & 0x02)


def decode_os_read(pdata: bytes) -> OsInfo:
    """OS Read: the 28-byte short layout, optionally followed by the enumeration part."""
    _need(pdata, OS_READ_SHORT_LEN, "OS Read")
    raw_v = pdata[9]
    supply = round(261.12 / (127 - raw_v), 3) if raw_v < 127 else None
    tail = pdata[OS_READ_SHORT_LEN:]
    enumeration = decode_enumeration(tail) if len(tail) >= ENUMERATION_MIN_LEN else None
    return OsInfo(
        mid=int.from_bytes(pdata[0:4], "little"),
        os_version=pdata[4],
        mcu_type=pdata[5] & 0x07,
        os_build=pdata[6] | pdata[7] << 8,
        rssi_dbm=pdata[8] - 130,
        supply_v=supply,
        flags=pdata[10],
        slot_limits=pdata[11],
        ibk=bytes(pdata[12:28]),
        enumeration=enumeration,
    )


def decode_thermometer(pdata: bytes) -> float | None:
    """Thermometer Read: °C in 1/16 steps, ``None`` when the sensor is missing (0x80)."""
    _need(pdata, 3, "Thermometer Read")
    if pdata[0] == 0x80:
        return None
    raw = (pdata[1] | pdata[2] << 8) & 0x0FFF
    if raw & 0x0800:
        raw -= 0x1000
    return raw / 16


class FrcResult(msgspec.Struct, frozen=True, gc=False):
    status: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.status <= FRC_STATUS_MAX_OK


def decode_frc_send(pdata: bytes) -> FrcResult:
    """FRC Send / SendSelective: Status then 55 bytes of FRC data."""
    _need(pdata, 1 + FRC_DATA_LEN, "FRC Send", exact=True)
    return FrcResult(pdata[0], bytes(pdata[1:]))


def decode_frc_extra(pdata: bytes) -> bytes:
    _need(pdata, FRC_EXTRA_LEN, "FRC ExtraResult", exact=True)
    return bytes(pdata)


def frc_send_pdata(command: int, user_data: bytes) -> bytes:
    if len(user_data) > FRC_SELECT_LEN:
        raise DpaFormatError("FRC user data exceeds 30 bytes")
    return bytes((command,)) + user_data


def frc_selective_pdata(command: int, nodes: Iterable[int], user_data: bytes) -> bytes:
    if len(user_data) > 25:
        raise DpaFormatError("selective FRC user data exceeds 25 bytes")
    return bytes((command,)) + nodes_to_bitmap(nodes, FRC_SELECT_LEN) + user_data


def frc_width(command: int) -> int:
    """Result width of an FRC command in bits: 2, 8, 16 or 32."""
    if command < 0x80:
        return 2
    if command < 0xE0:
        return 8
    if command < 0xF8:
        return 16
    return 32


def frc_max_node(command: int, with_extra: bool) -> int:
    """The highest address whose value fits the result (with or without ExtraResult)."""
    width = frc_width(command)
    if width == 2:  # bit 1 of nodes 184-239 lies in the ExtraResult bytes
        return 239 if with_extra else 183
    per = width // 8
    length = FRC_BUFFER_LEN if with_extra else FRC_DATA_LEN
    return min(length // per - 1, 239)


def frc_needs_extra(command: int, nodes: Iterable[int]) -> bool:
    """True when any of ``nodes`` lies beyond the first 55 bytes of result."""
    top = max(nodes, default=0)
    if frc_width(command) == 2:
        return top >= 184
    return top > frc_max_node(command, with_extra=False)


def frc_values(command: int, buffer: bytes, nodes: Iterable[int]) -> dict[int, int]:
    """Extract the raw FRC value of each of ``nodes`` from the result buffer.

    ``buffer`` is FrcData (55 bytes) optionally followed by ExtraResult (9 bytes).
    """
    width = frc_width(command)
    out: dict[int, int] = {}
    for n in nodes:
        if width == 2:
            if not 0 <= n <= 239 or 32 + n // 8 >= len(buffer):
                raise DpaFormatError(f"node {n} is outside the 2-bit FRC result")
            bit0 = buffer[n // 8] >> (n % 8) & 1
            bit1 = buffer[32 + n // 8] >> (n % 8) & 1
            out[n] = bit0 | bit1 << 1
        else:
            per = width // 8
            start = n * per
            if n < 1 or start + per > len(buffer):
                raise DpaFormatError(f"node {n} is outside the {per}-byte FRC result")
            out[n] = int.from_bytes(buffer[start : start + per], "little")
    return out


def encode_frc_buffer(command: int, values: dict[int, int]) -> bytes:
    """The 64-byte result buffer holding ``values`` (simulator side of :func:`frc_values`)."""
    width = frc_width(command)
    buf = bytearray(FRC_BUFFER_LEN)
    for n, v in values.items():
        if width == 2:
            if v & 1:
                buf[n // 8] |= 1 << (n % 8)
            if v & 2:
                buf[32 + n // 8] |= 1 << (n % 8)
        else:
            per = width // 8
            if (n + 1) * per <= FRC_BUFFER_LEN and n >= 1:
                buf[n * per : (n + 1) * per] = v.to_bytes(per, "little")
    return bytes(buf)


def binary_output_set_pdata(states: dict[int, int]) -> bytes:
    """SetOutput PData: bitmap of outputs, then one state byte per selected output in order.

    State: 0 off, 1 on, 2-127 on for that many minutes, 0x81-0xFF on for 1-127 seconds.
    """
    bitmap = 0
    for index, state in states.items():
        if not 0 <= index < 32:
            raise DpaFormatError(f"binary output index {index} out of range")
        if not 0 <= state <= 0xFF or state == 0x80:
            raise DpaFormatError(f"binary output state {state:#x} is invalid")
        bitmap |= 1 << index
    return bitmap.to_bytes(4, "little") + bytes(states[i] for i in sorted(states))


def binary_output_state(on: bool, duration_s: float | None = None) -> int:
    """The SetOutput state byte for ``on`` for ``duration_s`` (None = until changed)."""
    if not on:
        return 0
    if duration_s is None or duration_s <= 0:
        return 1
    if duration_s <= 127:
        return 0x80 | max(1, round(duration_s))
    minutes = round(duration_s / 60)
    if minutes > 127:
        raise DpaFormatError("binary output duration exceeds 127 minutes")
    return max(2, minutes)


def decode_binary_output_states(pdata: bytes) -> list[int]:
    """SetOutput response: indexes of outputs that were on."""
    _need(pdata, 4, "Binary Output SetOutput", exact=True)
    return bitmap_to_nodes(pdata)


def decode_binary_output_enumerate(pdata: bytes) -> int:
    _need(pdata, 1, "Binary Output Enumerate")
    if pdata[0] > 32:
        raise DpaFormatError(f"{pdata[0]} binary outputs exceed 32", pdata)
    return pdata[0]
