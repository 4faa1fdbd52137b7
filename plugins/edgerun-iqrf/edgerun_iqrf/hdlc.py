"""UART framing of the DPA UART interface (sans-io).

``0x7E | escaped(DPA bytes + CRC-8) | 0x7E``; 0x7E and 0x7D in the body (the CRC included)
are sent as ``0x7D, byte ^ 0x20``. The :class:`Deframer` takes bytes in any chunking and
yields whole, CRC-checked frames; it resynchronises at the next flag after garbage, after
an abort (``0x7D 0x7E``), after an overlong frame and after a bad CRC, counting each drop.
The 70-byte cut-off covers the 64-byte DPA maximum plus CRC with room to spare, as the TR's
own receiver does.
"""

from __future__ import annotations

from typing import Final

import msgspec

from edgerun_iqrf.crc import crc8_uart
from edgerun_iqrf.errors import DpaFormatError

FLAG: Final = 0x7E
ESCAPE: Final = 0x7D
XOR: Final = 0x20
MAX_BODY: Final = 70


def encode(frame: bytes) -> bytes:
    """Frame ``frame`` (DPA bytes) for the wire."""
    body = bytes(frame) + bytes((crc8_uart(frame),))
    out = bytearray((FLAG,))
    for b in body:
        if b in (FLAG, ESCAPE):
            out += bytes((ESCAPE, b ^ XOR))
        else:
            out.append(b)
    out.append(FLAG)
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode exactly one framed packet.

    :raises DpaFormatError: no flags, abort, short frame or bad CRC.
    """
    if len(data) < 2 or data[0] != FLAG or data[-1] != FLAG:
        raise DpaFormatError("UART frame must start and end with 0x7E", bytes(data))
    d = Deframer()
    frames = d.feed(data)
    if len(frames) != 1 or d.dropped:
        reason = d.first_error or "not exactly one frame"
        raise DpaFormatError(reason, bytes(data))
    return frames[0]


class Deframer(msgspec.Struct):
    """Incremental receiver; :meth:`feed` returns the complete frames found so far."""

    #: Frames dropped (bad CRC, too short, aborted, too long) and bytes skipped outside frames.
    dropped: int = 0
    skipped_bytes: int = 0
    last_error: str = ""
    first_error: str = ""
    _buf: bytearray = msgspec.field(default_factory=bytearray)
    _in_frame: bool = False
    _escape: bool = False
    _overlong: bool = False

    def reset(self) -> None:
        self._buf.clear()
        self._in_frame = self._escape = self._overlong = False

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self.last_error = reason
        self.first_error = self.first_error or reason

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            if not self._in_frame:
                if b == FLAG:
                    self._in_frame = True
                    self._buf.clear()
                    self._escape = self._overlong = False
                else:
                    self.skipped_bytes += 1
                continue
            if b == FLAG:
                if self._escape:
                    # 0x7D 0x7E aborts the frame; this flag opens the next one.
                    self._drop("abort sequence")
                    self._buf.clear()
                    self._escape = self._overlong = False
                    continue
                if self._overlong:
                    # the end of an overlong frame (already counted); this flag opens the next
                    self._overlong = False
                    continue
                if not self._buf:
                    continue  # back-to-back flags: stay in sync, start of a frame
                frame = self._finish()
                if frame is not None:
                    out.append(frame)
                # The closing flag may be the next frame's opening flag.
                self._buf.clear()
                self._overlong = False
                continue
            if self._overlong:
                continue
            if b == ESCAPE and not self._escape:
                self._escape = True
                continue
            if self._escape:
                self._escape = False
                self._buf.append(b ^ XOR)
            else:
                self._buf.append(b)
            if len(self._buf) > MAX_BODY:
                self._drop("frame longer than 70 bytes")
                self._overlong = True
                self._buf.clear()
        return out

    def _finish(self) -> bytes | None:
        if self._overlong:
            return None
        if len(self._buf) < 2:
            self._drop("frame shorter than 2 bytes")
            return None
        if crc8_uart(self._buf) != 0:
            self._drop("bad CRC")
            return None
        return bytes(self._buf[:-1])
