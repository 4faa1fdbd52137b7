"""Checksums of the TR-module interfaces.

* UART: the 1-Wire compatible CRC-8 (polynomial x^8+x^5+x^4+1, processed LSB first as 0x8C),
  initial value 0xFF, no final XOR, computed over the unescaped DPA bytes.
* SPI: CRCM/CRCS, an XOR of 0x5F with the packet bytes.
"""

from __future__ import annotations

from collections.abc import Iterable


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _build_table()

UART_CRC_INIT = 0xFF


def crc8_uart(data: Iterable[int], crc: int = UART_CRC_INIT) -> int:
    """Return the UART CRC-8 of ``data`` (run over data + CRC it gives 0)."""
    table = _TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc


def crc_spi(data: Iterable[int]) -> int:
    """Return 0x5F XOR every byte (CRCM: over CMD, PTYPE, data; CRCS: over PTYPE, data)."""
    crc = 0x5F
    for byte in data:
        crc ^= byte
    return crc
