"""Payload v1: the readings' contract with the datacenter (docs/payload.md is the reference).

A batch is one map: ``"v"`` = 1, ``"gw"`` (gateway id), optional ``"tenant"``, ``"cols"``
(column names), ``"hist"`` (true for backlog from an outage) and ``"rows"`` (lists aligned
with ``"cols"``). It travels as msgpack (default) or as JSON, optionally zlib-compressed.
Decoders tell the forms apart by the first byte: ``0x78`` is a zlib stream (decompress, then
look again), ``{`` is JSON, anything else is msgpack.

The msgpack encoder never re-encodes rows: the queue stores them msgpack-encoded, so a batch
is a precomputed header, an array header and the queue's bytes.

The decoder is shared by ``edgerun tail`` and ``edgerun bridge``. It checks the structure
and reports rows that do not fit (wrong length) as ``bad_rows`` rather than failing the
whole batch; a payload that is not v1 at all raises :class:`PayloadError`. A decompressed
payload may be at most :data:`MAX_DECODED_BYTES` (a zlib bomb must not exhaust memory).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterator
from typing import Any, Final, Literal

import msgpack
import msgspec

from edgerun.readings import COLUMNS

VERSION: Final = 1
#: 16 MiB: 64 times the largest default batch; anything larger is not ours.
MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
ZLIB_FIRST_BYTE: Final = 0x78
JSON_FIRST_BYTE: Final = 0x7B

Encoding = Literal["msgpack", "json"]
Compression = Literal["none", "zlib"]


class PayloadError(ValueError):
    """The bytes are not a payload v1 batch; the message says why."""


def array_header(n: int) -> bytes:
    """msgpack array header for ``n`` elements."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    return b"\xde" + struct.pack(">H", n)


def _json_default(obj: object) -> object:
    # Bytes become hex text; anything else JSON cannot hold (a msgpack extension type in
    # ``x``) becomes its repr rather than costing the whole batch.
    if isinstance(obj, bytes | bytearray):
        return obj.hex()
    return repr(obj)


def _json_safe(value: object) -> object:
    # JSON has no NaN/Infinity; such values become null (the normalizer rejects them anyway).
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Encoder:
    """Builds the wire bytes of batches for one gateway."""

    def __init__(
        self,
        gateway: str,
        tenant: str | None = None,
        *,
        encoding: Encoding = "msgpack",
        compression: Compression = "none",
        level: int = 6,
        cols: tuple[str, ...] = COLUMNS,
    ) -> None:
        self.gateway = gateway
        self.tenant = tenant
        self.encoding = encoding
        self.compression = compression
        self.level = level
        self.cols = cols
        self._prefix = {hist: self._msgpack_prefix(hist) for hist in (False, True)}

    def _head(self, hist: bool) -> dict[str, Any]:
        head: dict[str, Any] = {"v": VERSION, "gw": self.gateway}
        if self.tenant is not None:
            head["tenant"] = self.tenant
        head["cols"] = list(self.cols)
        head["hist"] = hist
        return head

    def _msgpack_prefix(self, hist: bool) -> bytes:
        head = self._head(hist)
        out = [_map_header(len(head) + 1)]
        for key, value in head.items():
            out.append(msgpack.packb(key))
            out.append(msgpack.packb(value, use_bin_type=True))
        out.append(msgpack.packb("rows"))
        return b"".join(out)

    def encode_blob(self, count: int, rows_blob: bytes, hist: bool) -> bytes:
        """Wire bytes for ``count`` rows given as concatenated msgpack values."""
        if self.encoding == "msgpack":
            data = self._prefix[hist] + array_header(count) + rows_blob
        else:
            unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
            unpacker.feed(rows_blob)
            rows = [[_json_safe(v) for v in row] for row in unpacker]
            doc = self._head(hist)
            doc["rows"] = rows
            data = json.dumps(
                doc, separators=(",", ":"), ensure_ascii=False, default=_json_default
            ).encode()
        if self.compression == "zlib":
            return zlib.compress(data, self.level)
        return data

    def encode_split(self, count: int, rows_blob: bytes, hist: bool, limit: int) -> list[bytes]:
        """Wire bytes for the rows as several batches of at most ``limit`` bytes each.

        For brokers whose maximum packet size is below a batch. Rows keep their order; a
        single row larger than ``limit`` still goes out alone (the broker will refuse it).
        """
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(rows_blob)
        rows: list[list[Any]] = list(unpacker)
        out: list[bytes] = []
        pending = [(0, len(rows))]
        while pending:
            lo, hi = pending.pop()
            data = self.encode_rows(rows[lo:hi], hist)
            if len(data) > limit and hi - lo > 1:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]  # lo..mid is popped (and sent) first
            else:
                out.append(data)
        return out

    def encode_rows(self, rows: list[list[Any]], hist: bool = False) -> bytes:
        """Wire bytes for rows given as lists (tools and tests)."""
        blob = msgpack.packb(rows, use_bin_type=True)[len(array_header(len(rows))) :]
        return self.encode_blob(len(rows), blob, hist)


class Payload(msgspec.Struct):
    """A decoded batch."""

    gw: str
    cols: list[str]
    rows: list[list[Any]]
    hist: bool
    tenant: str | None = None
    #: How the batch travelled: ``msgpack`` or ``json``, and whether zlib-compressed.
    encoding: str = "msgpack"
    compressed: bool = False
    #: Rows dropped because their length did not match ``cols``.
    bad_rows: int = 0
    #: Keys this decoder does not know (kept, per the contract's "ignore unknown keys").
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def records(self) -> Iterator[dict[str, Any]]:
        """Each row as a dict keyed by column name."""
        cols = self.cols
        for row in self.rows:
            yield dict(zip(cols, row, strict=True))

    def column(self, name: str) -> list[Any]:
        """All values of one column (``[]`` if the batch has no such column)."""
        try:
            i = self.cols.index(name)
        except ValueError:
            return []
        return [row[i] for row in self.rows]


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise PayloadError(f"corrupt zlib stream: {exc}") from None
    if d.unconsumed_tail:
        raise PayloadError(f"decompressed payload exceeds {MAX_DECODED_BYTES} bytes")
    if not d.eof:
        raise PayloadError("truncated zlib stream")
    return out


def decode(data: bytes) -> Payload:
    """Decode a batch in any of its forms; raises :class:`PayloadError`."""
    if not data:
        raise PayloadError("empty payload")
    compressed = False
    if data[0] == ZLIB_FIRST_BYTE:
        data = _inflate(data)
        compressed = True
        if not data or data[0] == ZLIB_FIRST_BYTE:
            raise PayloadError("compressed payload is empty or compressed twice")
    if len(data) > MAX_DECODED_BYTES:
        raise PayloadError(f"payload exceeds {MAX_DECODED_BYTES} bytes")
    doc: Any
    if data[0] == JSON_FIRST_BYTE:
        encoding = "json"
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"invalid JSON: {exc}") from None
    else:
        encoding = "msgpack"
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise PayloadError(f"invalid msgpack: {exc}") from None
    return _check(doc, encoding, compressed)


def _check(doc: Any, encoding: str, compressed: bool) -> Payload:
    if not isinstance(doc, dict):
        raise PayloadError("payload is not a map")
    v = doc.get("v")
    if v != VERSION:
        raise PayloadError(f"unsupported payload version {v!r} (this decoder reads v1)")
    gw, cols, rows, hist = doc.get("gw"), doc.get("cols"), doc.get("rows"), doc.get("hist")
    tenant = doc.get("tenant")
    if not isinstance(gw, str) or not gw:
        raise PayloadError('"gw" must be a non-empty string')
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        raise PayloadError('"cols" must be a list of strings')
    if not isinstance(rows, list):
        raise PayloadError('"rows" must be a list')
    if not isinstance(hist, bool):
        raise PayloadError('"hist" must be true or false')
    if tenant is not None and not isinstance(tenant, str):
        raise PayloadError('"tenant" must be a string')
    width = len(cols)
    good = [r for r in rows if isinstance(r, list) and len(r) == width]
    known = {"v", "gw", "cols", "rows", "hist", "tenant"}
    extra = {k: val for k, val in doc.items() if k not in known}
    return Payload(
        gw=gw,
        cols=cols,
        rows=good,
        hist=hist,
        tenant=tenant,
        encoding=encoding,
        compressed=compressed,
        bad_rows=len(rows) - len(good),
        extra=extra,
    )


__all__ = [
    "MAX_DECODED_BYTES",
    "VERSION",
    "Encoder",
    "Payload",
    "PayloadError",
    "array_header",
    "decode",
]
