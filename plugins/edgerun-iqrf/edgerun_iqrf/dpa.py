"""DPA frames: requests, responses, confirmations and asynchronous messages (sans-io).

Bytes in, typed values out; no I/O and no event loop. The layouts are those of the DPA
interface header (NADR LE16, PNUM, PCMD, HWPID LE16, then PData for a request or
ResponseCode, DpaValue, PData for a response). A frame is at most 64 bytes: PData carries
at most 56. Anything else raises :class:`~edgerun_iqrf.errors.DpaFormatError`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, Literal, TypeAlias

import msgspec

from edgerun_iqrf.errors import DpaFormatError

MAX_FRAME: Final = 64
MAX_PDATA: Final = 56
HEADER_LEN: Final = 6
RESPONSE_HEADER_LEN: Final = 8
CONFIRMATION_LEN: Final = 11

NADR_COORDINATOR: Final = 0x00
NADR_IQUIP: Final = 0xF0
NADR_LOCAL: Final = 0xFC
NADR_TEMPORARY: Final = 0xFE
NADR_BROADCAST: Final = 0xFF
MAX_NODE: Final = 0xEF

HWPID_ANY: Final = 0xFFFF
PCMD_RESPONSE_FLAG: Final = 0x80
PCMD_GET_PER_INFO: Final = 0x3F
STATUS_CONFIRMATION: Final = 0xFF
STATUS_ASYNC_RESPONSE: Final = 0x80


class Pnum(IntEnum):
    """Peripheral numbers used by a gateway."""

    COORDINATOR = 0x00
    NODE = 0x01
    OS = 0x02
    EEPROM = 0x03
    EEEPROM = 0x04
    RAM = 0x05
    LEDR = 0x06
    LEDG = 0x07
    IO = 0x09
    THERMOMETER = 0x0A
    UART = 0x0C
    FRC = 0x0D
    LIGHT = 0x4A
    BINARY_OUTPUT = 0x4B
    SENSOR = 0x5E
    ENUMERATION = 0xFF


class CoordinatorCmd(IntEnum):
    ADDR_INFO = 0x00
    DISCOVERED_DEVICES = 0x01
    BONDED_DEVICES = 0x02
    CLEAR_ALL_BONDS = 0x03
    BOND_NODE = 0x04
    REMOVE_BOND = 0x05
    DISCOVERY = 0x07
    SET_DPA_PARAMS = 0x08
    SET_HOPS = 0x09
    AUTHORIZE_BOND = 0x0D
    SMART_CONNECT = 0x12


class OsCmd(IntEnum):
    READ = 0x00
    RESET = 0x01
    READ_CFG = 0x02
    RESTART = 0x08


class LedCmd(IntEnum):
    SET_OFF = 0x00
    SET_ON = 0x01
    GET = 0x02
    PULSE = 0x03
    FLASHING = 0x04


class FrcCmd(IntEnum):
    SEND = 0x00
    EXTRA_RESULT = 0x01
    SEND_SELECTIVE = 0x02
    SET_PARAMS = 0x03


class SensorCmd(IntEnum):
    READ_SENSORS = 0x00
    READ_SENSORS_WITH_TYPES = 0x01
    ENUMERATE = 0x3E


class BinaryOutputCmd(IntEnum):
    SET_OUTPUT = 0x00
    ENUMERATE = 0x3E


#: Response codes ("ErrN") and their names.
RCODE_NAMES: Final[dict[int, str]] = {
    0x00: "STATUS_NO_ERROR",
    0x01: "ERROR_FAIL",
    0x02: "ERROR_PCMD",
    0x03: "ERROR_PNUM",
    0x04: "ERROR_ADDR",
    0x05: "ERROR_DATA_LEN",
    0x06: "ERROR_DATA",
    0x07: "ERROR_HWPID",
    0x08: "ERROR_NADR",
    0x09: "ERROR_IFACE_CUSTOM_HANDLER",
    0x0A: "ERROR_MISSING_CUSTOM_DPA_HANDLER",
    0xFF: "STATUS_CONFIRMATION",
}


def rcode_name(rcode: int) -> str:
    """Name a response code, including the async/reserved flag bits and user errors."""
    if rcode == STATUS_CONFIRMATION:
        return RCODE_NAMES[rcode]
    base = rcode & 0x3F
    if base in RCODE_NAMES:
        name = RCODE_NAMES[base]
    elif 0x20 <= base <= 0x3F:
        name = f"ERROR_USER_{base - 0x20:#04x}"
    else:
        name = f"UNKNOWN_{base:#04x}"
    if rcode & 0x40:
        name += "|RESERVED_FLAG"
    if rcode & STATUS_ASYNC_RESPONSE:
        name += "|ASYNC_RESPONSE"
    return name


def _le16(data: bytes, offset: int) -> int:
    return data[offset] | (data[offset + 1] << 8)


class Request(msgspec.Struct, frozen=True, gc=False):
    """A DPA request (gateway to TR, or a node-initiated request arriving asynchronously)."""

    nadr: int
    pnum: int
    pcmd: int
    hwpid: int = HWPID_ANY
    pdata: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.nadr <= 0xFFFF:
            raise DpaFormatError(f"NADR {self.nadr} out of range")
        if not 0 <= self.pnum <= 0xFF:
            raise DpaFormatError(f"PNUM {self.pnum} out of range")
        if not 0 <= self.pcmd <= 0x7F:
            raise DpaFormatError(f"request PCMD {self.pcmd:#x} must be 0x00-0x7F")
        if not 0 <= self.hwpid <= 0xFFFF:
            raise DpaFormatError(f"HWPID {self.hwpid} out of range")
        if len(self.pdata) > MAX_PDATA:
            raise DpaFormatError(f"PData of {len(self.pdata)} bytes exceeds {MAX_PDATA}")

    @property
    def kind(self) -> Literal["request"]:
        return "request"

    def encode(self) -> bytes:
        """Return the frame bytes."""
        return (
            bytes(
                (
                    self.nadr & 0xFF,
                    self.nadr >> 8,
                    self.pnum,
                    self.pcmd,
                    self.hwpid & 0xFF,
                    self.hwpid >> 8,
                )
            )
            + self.pdata
        )

    @property
    def is_local(self) -> bool:
        """True when the coordinator answers itself (no confirmation comes)."""
        return self.nadr in (NADR_COORDINATOR, NADR_LOCAL)

    @property
    def is_broadcast(self) -> bool:
        return self.nadr == NADR_BROADCAST


class Response(msgspec.Struct, frozen=True, gc=False):
    """A DPA response; ``is_async`` when the async flag of the response code is set."""

    nadr: int
    pnum: int
    pcmd: int
    hwpid: int
    rcode: int
    dpa_value: int
    pdata: bytes = b""

    @property
    def request_pcmd(self) -> int:
        return self.pcmd & 0x7F

    @property
    def is_async(self) -> bool:
        return bool(self.rcode & STATUS_ASYNC_RESPONSE)

    @property
    def ok(self) -> bool:
        """True when the response code, ignoring the async/reserved flags, is 0."""
        return (self.rcode & 0x3F) == 0

    @property
    def kind(self) -> Literal["response", "async"]:
        return "async" if self.is_async else "response"

    @property
    def rcode_name(self) -> str:
        return rcode_name(self.rcode)

    def encode(self) -> bytes:
        return (
            bytes(
                (
                    self.nadr & 0xFF,
                    self.nadr >> 8,
                    self.pnum,
                    self.pcmd | PCMD_RESPONSE_FLAG,
                    self.hwpid & 0xFF,
                    self.hwpid >> 8,
                    self.rcode,
                    self.dpa_value,
                )
            )
            + self.pdata
        )

    def matches(self, request: Request) -> bool:
        """True when this is the answer to ``request`` (NADR, PNUM and PCMD agree)."""
        return (
            not self.is_async
            and self.nadr == request.nadr
            and self.pnum == request.pnum
            and self.request_pcmd == request.pcmd
        )


class Confirmation(msgspec.Struct, frozen=True, gc=False):
    """The coordinator's confirmation that a request entered the mesh.

    ``timeslot_ms`` is the timeslot length (sent in 10 ms units); ``hops_response`` is 0 for a
    broadcast, when no response follows.
    """

    nadr: int
    pnum: int
    pcmd: int
    hwpid: int
    dpa_value: int
    hops: int
    timeslot_ms: int
    hops_response: int

    @property
    def kind(self) -> Literal["confirmation"]:
        return "confirmation"

    def encode(self) -> bytes:
        return bytes(
            (
                self.nadr & 0xFF,
                self.nadr >> 8,
                self.pnum,
                self.pcmd,
                self.hwpid & 0xFF,
                self.hwpid >> 8,
                STATUS_CONFIRMATION,
                self.dpa_value,
                self.hops,
                self.timeslot_ms // 10,
                self.hops_response,
            )
        )

    def matches(self, request: Request) -> bool:
        return self.nadr == request.nadr and self.pnum == request.pnum and self.pcmd == request.pcmd


Frame: TypeAlias = Request | Response | Confirmation


def _is_reset_message(data: bytes) -> bool:
    # The coordinator's start-up message is a peripheral-enumeration answer flagged async; it
    # has been captured with PCMD 0x3F (no response bit), so both 0x3F and 0xBF are accepted.
    return (
        len(data) >= RESPONSE_HEADER_LEN
        and data[2] == Pnum.ENUMERATION
        and data[3] & 0x7F == PCMD_GET_PER_INFO
        and bool(data[6] & STATUS_ASYNC_RESPONSE)
        and data[6] != STATUS_CONFIRMATION
    )


def decode_frame(data: bytes) -> Frame:
    """Decode one frame received from the TR module (or a request for inspection).

    A frame whose PCMD has bit 7 set is a response (or async response); one with bit 7 clear
    is a confirmation when it is 11 bytes with 0xFF at offset 6, the coordinator reset
    message (see :func:`is_reset`), or otherwise a request.

    :raises DpaFormatError: too short, too long, or inconsistent.
    """
    data = bytes(data)
    if len(data) < HEADER_LEN:
        raise DpaFormatError(f"frame of {len(data)} bytes is shorter than the 6-byte header", data)
    if len(data) > MAX_FRAME:
        raise DpaFormatError(f"frame of {len(data)} bytes exceeds {MAX_FRAME}", data)
    nadr = _le16(data, 0)
    pnum, pcmd = data[2], data[3]
    hwpid = _le16(data, 4)
    if pcmd & PCMD_RESPONSE_FLAG or _is_reset_message(data):
        if len(data) < RESPONSE_HEADER_LEN:
            raise DpaFormatError(f"response of {len(data)} bytes is shorter than 8", data)
        if data[6] == STATUS_CONFIRMATION:
            raise DpaFormatError("response PCMD with the confirmation status", data)
        return Response(nadr, pnum, pcmd & 0x7F, hwpid, data[6], data[7], data[8:])
    if len(data) == CONFIRMATION_LEN and data[6] == STATUS_CONFIRMATION:
        return Confirmation(nadr, pnum, pcmd, hwpid, data[7], data[8], data[9] * 10, data[10])
    return Request(nadr, pnum, pcmd, hwpid, data[6:])


def is_reset(frame: Frame) -> bool:
    """True for the coordinator's asynchronous reset (start-up) message."""
    return (
        isinstance(frame, Response)
        and frame.is_async
        and frame.pnum == Pnum.ENUMERATION
        and frame.request_pcmd == PCMD_GET_PER_INFO
    )


def parse_hex(text: str) -> bytes:
    """Parse plain (``0000060 3``), spaced or dotted (``00.00.06``) hex of one frame.

    :raises DpaFormatError: not hex, or an odd number of digits.
    """
    cleaned = text.strip()
    for sep in (".", " ", ":", "-", ",", "\t", "\n"):
        cleaned = cleaned.replace(sep, "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise DpaFormatError("no hex digits")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise DpaFormatError(f"not hex: {text!r}") from None
