"""TR module identification, shared by the transports that can ask for it.

The SPI transport reads it with the 0xF5 packet and the USB CDC transport with ``>IT``; both
get the same 16 bytes (MID, OS version, TR type, OS build, reserved) optionally followed by
the 16-byte IBK. It lives apart from :mod:`edgerun_iqrf.spi` and :mod:`edgerun_iqrf.cdc` so
that a gateway loads only the protocol module of the transport it is configured with.
"""

from __future__ import annotations

import msgspec

from edgerun_iqrf.errors import DpaFormatError


class ModuleInfo(msgspec.Struct, frozen=True):
    """TR module identification (SPI 0xF5 / CDC ``>IT``)."""

    mid: int
    os_version: int
    tr_type: int
    os_build: int
    ibk: bytes | None

    @property
    def os_version_str(self) -> str:
        return f"{self.os_version >> 4}.{self.os_version & 0x0F:02d}"

    @property
    def mcu(self) -> str:
        return {4: "PIC16LF1938", 5: "PIC16LF18877"}.get(self.tr_type & 0x07, "unknown")

    @property
    def series(self) -> str:
        names = {2: "TR-72", 11: "TR-76"}
        suffix = {4: "D", 5: "G"}.get(self.tr_type & 0x07, "?")
        base = names.get(self.tr_type >> 4)
        return f"{base}{suffix}" if base else f"series {self.tr_type >> 4}"

    def encode(self) -> bytes:
        out = (
            self.mid.to_bytes(4, "little")
            + bytes((self.os_version, self.tr_type))
            + self.os_build.to_bytes(2, "little")
            + bytes(8)
        )
        return out + (self.ibk or b"")


def decode_module_info(data: bytes) -> ModuleInfo:
    """Decode 16 or 32 bytes of module info."""
    if len(data) not in (16, 32):
        raise DpaFormatError(f"module info of {len(data)} bytes (need 16 or 32)", bytes(data))
    return ModuleInfo(
        mid=int.from_bytes(data[0:4], "little"),
        os_version=data[4],
        tr_type=data[5],
        os_build=data[6] | data[7] << 8,
        ibk=bytes(data[16:32]) if len(data) == 32 else None,
    )
