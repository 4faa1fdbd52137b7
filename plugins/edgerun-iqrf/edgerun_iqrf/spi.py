"""The IQRF SPI protocol between the gateway and the TR module (sans-io part).

Status byte meanings, packet layout ``CMD | PTYPE | D1..Dn | CRCM | 0x00`` with
CRCM = 0x5F ^ CMD ^ PTYPE ^ D..., and the reply ``[SPISTAT][SPISTAT][S1..Sn][CRCS][result]``
with CRCS = 0x5F ^ PTYPE ^ S... (PTYPE bit 7 clear). :mod:`edgerun_iqrf.spi_transport` drives
these packets through a device object.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from edgerun_iqrf.crc import crc_spi
from edgerun_iqrf.errors import DpaFormatError

CMD_DATA: Final = 0xF0
CMD_MODULE_INFO: Final = 0xF5
CHECK: Final = 0x00
CTYPE_WRITE: Final = 0x80
RESULT_CRCM_OK: Final = 0x3F
RESULT_CRCM_ERR: Final = 0x3E
MAX_DATA: Final = 64

STATUS_DISABLED: Final = 0x00
STATUS_SUSPENDED: Final = 0x07
STATUS_NOT_READY_CRCM_ERR: Final = 0x3E
STATUS_NOT_READY_CRCM_OK: Final = 0x3F
STATUS_READY_COMM: Final = 0x80
STATUS_READY_PROG: Final = 0x81
STATUS_READY_DEBUG: Final = 0x82
STATUS_SLOW_MODE: Final = 0x83
STATUS_HW_ERROR: Final = 0xFF


class SpiState(Enum):
    DISABLED = "disabled"
    SUSPENDED = "suspended"
    BUSY_CRCM_ERROR = "not ready, last CRCM error"
    BUSY = "not ready, buffer full"
    DATA_READY = "data ready"
    READY = "ready, communication mode"
    READY_PROGRAMMING = "ready, programming mode"
    READY_DEBUG = "ready, debug mode"
    SLOW_MODE = "busy in background, slow mode"
    HW_ERROR = "hardware error"
    UNKNOWN = "unknown status"


def status_state(status: int) -> SpiState:
    """Classify an SPISTAT byte."""
    if 0x40 <= status <= 0x7F:
        return SpiState.DATA_READY
    return {
        STATUS_DISABLED: SpiState.DISABLED,
        STATUS_SUSPENDED: SpiState.SUSPENDED,
        STATUS_NOT_READY_CRCM_ERR: SpiState.BUSY_CRCM_ERROR,
        STATUS_NOT_READY_CRCM_OK: SpiState.BUSY,
        STATUS_READY_COMM: SpiState.READY,
        STATUS_READY_PROG: SpiState.READY_PROGRAMMING,
        STATUS_READY_DEBUG: SpiState.READY_DEBUG,
        STATUS_SLOW_MODE: SpiState.SLOW_MODE,
        STATUS_HW_ERROR: SpiState.HW_ERROR,
    }.get(status, SpiState.UNKNOWN)


def data_ready_len(status: int) -> int | None:
    """Bytes waiting in the TR for a data-ready status (0x40 means 64), else ``None``."""
    if not 0x40 <= status <= 0x7F:
        return None
    return status - 0x40 or 64


def ready_status(length: int) -> int:
    """The data-ready status announcing ``length`` bytes (simulator side)."""
    if not 1 <= length <= MAX_DATA:
        raise DpaFormatError(f"SPI data length {length} out of 1-64")
    return 0x40 + (length % 64)


def write_packet(data: bytes, cmd: int = CMD_DATA) -> bytes:
    """The master's write packet: CMD, n|0x80, data, CRCM, trailing check byte."""
    if not 1 <= len(data) <= MAX_DATA:
        raise DpaFormatError(f"SPI data length {len(data)} out of 1-64")
    ptype = len(data) | CTYPE_WRITE
    body = bytes((cmd, ptype)) + data
    return body + bytes((crc_spi(body), CHECK))


def read_packet(length: int, cmd: int = CMD_DATA) -> bytes:
    """The master's read packet for ``length`` bytes: CMD, n, zeros, CRCM, check byte."""
    if not 1 <= length <= MAX_DATA:
        raise DpaFormatError(f"SPI data length {length} out of 1-64")
    body = bytes((cmd, length)) + bytes(length)
    return body + bytes((crc_spi(body), CHECK))


def module_info_packet(long: bool = True) -> bytes:
    """TR module info request (16 bytes, or 32 with the IBK on OS >= 4.03)."""
    length = 32 if long else 16
    body = bytes((CMD_MODULE_INFO, length)) + bytes(length)
    return body + bytes((crc_spi(body), CHECK))


def check_crcm(packet: bytes) -> bool:
    """Slave side: does the packet's CRCM match (``packet`` as the master sent it)?"""
    if len(packet) < 4:
        return False
    n = packet[1] & 0x7F
    if len(packet) < n + 3:
        return False
    return crc_spi(packet[: n + 2]) == packet[n + 2]


def parse_read_reply(rx: bytes, length: int) -> bytes:
    """Extract the data from the bytes clocked back during a read packet.

    ``rx`` is ``[st][st][S1..Sn][CRCS]`` optionally followed by the result byte.

    :raises DpaFormatError: wrong size or CRCS mismatch.
    """
    if len(rx) not in (length + 3, length + 4):
        raise DpaFormatError(f"SPI reply of {len(rx)} bytes for a {length}-byte read", bytes(rx))
    data = bytes(rx[2 : 2 + length])
    expected = crc_spi(bytes((length,)) + data)
    if rx[2 + length] != expected:
        raise DpaFormatError(
            f"CRCS mismatch: got {rx[2 + length]:#04x}, expected {expected:#04x}", bytes(rx)
        )
    return data


def slave_reply(data: bytes, status: int, result: int = RESULT_CRCM_OK) -> bytes:
    """What a TR clocks back during a read packet of ``len(data)`` (simulator side)."""
    ptype = len(data)
    return bytes((status, status)) + data + bytes((crc_spi(bytes((ptype,)) + data), result))
