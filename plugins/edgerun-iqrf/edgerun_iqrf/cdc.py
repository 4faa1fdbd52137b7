"""The IQRF USB CDC command protocol (sans-io), both directions.

Host to device: ``>`` command ``CR``; a DPA frame goes as ``>DS`` + one raw length byte + ``:``
+ frame + ``CR``. Device to host: ``<`` answer ``CR`` (``<OK``, ``<DS:OK``, ``<DS:ERR``,
``<DS:BUSY``, ``<S:`` + raw status byte, ``<IT:`` + 16 or 32 raw bytes, ``<I:text``) and the
asynchronous ``<DR`` + length byte + ``:`` + frame + ``CR`` for everything the TR sends.
Because binary payloads may contain CR, the parsers take their length from the length
byte, never from a search for CR. Garbage before a ``<``/``>`` is skipped and counted; a
packet that does not end where its length says is dropped and the parser resynchronises.
Text packets are capped at 128 bytes (real answers are under 40) so noise cannot grow the
buffer.
"""

from __future__ import annotations

from typing import Final

import msgspec

from edgerun_iqrf.errors import DpaFormatError

CR: Final = 0x0D
LF: Final = 0x0A
MAX_TEXT: Final = 128
MAX_DATA: Final = 64
MODULE_INFO_LENS: Final = (32, 16)


class CdcMessage(msgspec.Struct, frozen=True, gc=False):
    """One packet: ``tag`` is the text after the direction mark up to the payload
    (``"DR"``, ``"DS"``, ``"IT"``, ``"S"``, ``"I"``, ``"DS:OK"``, ``"OK"``, ``"ERR"``...);
    ``data`` the binary or text payload (empty when there is none)."""

    tag: str
    data: bytes = b""


def encode_command(tag: str, data: bytes | None = None) -> bytes:
    """Host to device: ``>TAG CR`` or, with data, ``>TAG len : data CR``."""
    if data is None:
        return b">" + tag.encode("ascii") + b"\r"
    if len(data) > MAX_DATA:
        raise DpaFormatError(f"CDC payload of {len(data)} bytes exceeds {MAX_DATA}")
    return b">" + tag.encode("ascii") + bytes((len(data),)) + b":" + data + b"\r"


def encode_send(frame: bytes) -> bytes:
    """``>DS`` with a DPA frame."""
    return encode_command("DS", frame)


def encode_answer(tag: str, data: bytes | None = None, *, raw: bool = False) -> bytes:
    """Device to host. ``raw`` sends ``<TAG:data`` without a length byte (``<S:``, ``<IT:``)."""
    if data is None:
        return b"<" + tag.encode("ascii") + b"\r"
    if raw:
        return b"<" + tag.encode("ascii") + b":" + data + b"\r"
    if len(data) > MAX_DATA:
        raise DpaFormatError(f"CDC payload of {len(data)} bytes exceeds {MAX_DATA}")
    return b"<" + tag.encode("ascii") + bytes((len(data),)) + b":" + data + b"\r"


def encode_received(frame: bytes) -> bytes:
    """``<DR`` with a DPA frame from the TR."""
    return encode_answer("DR", frame)


_WAIT: Final = "wait"
_BAD: Final = "bad"


class _Parser(msgspec.Struct):
    mark: int
    #: tags followed by a length byte, ``:`` and binary data
    length_tags: tuple[bytes, ...]
    dropped: int = 0
    skipped_bytes: int = 0
    last_error: str = ""
    _buf: bytearray = msgspec.field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[CdcMessage]:
        self._buf += data
        out: list[CdcMessage] = []
        while True:
            start = self._buf.find(bytes((self.mark,)))
            if start < 0:
                self.skipped_bytes += sum(1 for b in self._buf if b not in (CR, LF))
                self._buf.clear()
                return out
            if start:
                # CR/LF left over after a packet is not garbage.
                self.skipped_bytes += sum(1 for b in self._buf[:start] if b not in (CR, LF))
                del self._buf[:start]
            result = self._packet()
            if result == _WAIT:
                return out
            if result == _BAD:
                del self._buf[:1]  # resynchronise at the next mark
                continue
            assert isinstance(result, CdcMessage)
            out.append(result)

    def _bad(self, reason: str) -> str:
        self.dropped += 1
        self.last_error = reason
        return _BAD

    def _packet(self) -> CdcMessage | str:
        buf = self._buf
        for tag in self.length_tags:
            head = bytes(buf[1 : 1 + len(tag)])
            if len(head) < len(tag) and tag.startswith(head):
                return _WAIT
            if head != tag:
                continue
            n = 1 + len(tag)
            if len(buf) <= n:
                return _WAIT
            length = buf[n]
            if length == 0 or length > MAX_DATA:
                return self._bad(f"bad length byte {length}")
            end = n + 2 + length
            if len(buf) <= end:
                return _WAIT
            if buf[n + 1] != ord(":") or buf[end] != CR:
                return self._bad(f"malformed {tag.decode()} packet")
            msg = CdcMessage(tag.decode(), bytes(buf[n + 2 : end]))
            del buf[: end + 1]
            return msg
        special = self._special()
        if special is not None:
            return special
        cr = buf.find(bytes((CR,)))
        if cr < 0:
            return self._bad("text packet too long") if len(buf) > MAX_TEXT else _WAIT
        raw = bytes(buf[1:cr])
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return self._bad("non-ASCII text packet")
        if not text.isprintable():
            return self._bad("non-printable text packet")
        del buf[: cr + 1]
        return CdcMessage(text)

    def _special(self) -> CdcMessage | str | None:
        """Raw-payload packets of one direction; ``None`` when the buffer holds none."""
        return None


class DeviceParser(_Parser):
    """Parses what a CDC device sends to the host."""

    mark: int = ord("<")
    length_tags: tuple[bytes, ...] = (b"DR",)

    def _special(self) -> CdcMessage | str | None:
        buf = self._buf
        head = bytes(buf[1:4])
        if len(head) < 2 and b"S:".startswith(head):
            return _WAIT
        if head[:2] == b"S:":
            if len(buf) < 5:
                return _WAIT
            if buf[4] != CR:
                return self._bad("malformed <S: packet")
            msg = CdcMessage("S", bytes(buf[3:4]))
            del buf[:5]
            return msg
        if len(head) < 3 and b"IT:".startswith(head):
            return _WAIT
        if head == b"IT:":
            long_end, short_end = 4 + 32, 4 + 16
            if len(buf) > long_end and buf[long_end] == CR:
                end = long_end
            elif (
                len(buf) > short_end
                and buf[short_end] == CR
                and (len(buf) == short_end + 1 or buf[short_end + 1] == ord("<"))
            ):
                # the 16-byte form: it ends the buffer or another packet follows it
                end = short_end
            elif len(buf) > long_end:
                return self._bad("malformed <IT: packet")
            else:
                return _WAIT
            msg = CdcMessage("IT", bytes(buf[4:end]))
            del buf[: end + 1]
            return msg
        return None


class HostParser(_Parser):
    """Parses what the host sends to a CDC device (used by the simulator)."""

    mark: int = ord(">")
    length_tags: tuple[bytes, ...] = (b"DS",)
