"""Payload v1 decoding on the datacenter side: bytes from MQTT -> :class:`Batch`.

The wire format is decoded by :mod:`edgerun.payload` (the decoder ``edgerun tail`` uses:
msgpack, JSON or zlib-compressed, docs/payload.md); unknown keys and columns are ignored.
This module adds what the databases need: the bridge's own size limit and per-row
checks. Rows are re-ordered into the fixed column order
below so sinks index them without looking at ``cols``.

Anything that is not a valid batch raises :class:`DecodeError` with a short reason; the
consumer sets such a message aside as a dead letter. A batch whose envelope is fine but
which has some bad rows keeps its good rows; the bad ones are returned separately, so
one broken sensor value never costs the rest of the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from edgerun import payload as wire

#: Column positions of a row in :attr:`Batch.rows`.
ID: Final = 0
TS: Final = 1
DEV: Final = 2
Q: Final = 3
VAL: Final = 4
UNIT: Final = 5
SYNC: Final = 6
COLUMNS: Final = ("id", "ts", "dev", "q", "val", "unit", "sync")
_REQUIRED: Final = ("id", "ts", "dev", "q", "val")
_STANDARD: Final = ["id", "ts", "dev", "q", "val", "unit", "sync", "x"]
#: Timestamps outside 2000-01-01 .. 2200-01-01 (ms) are refused: a seconds or µs value
#: in the ms column would otherwise land decades away from where a dashboard looks.
_TS_MIN: Final = 946_684_800_000
_TS_MAX: Final = 7_258_118_400_000


class DecodeError(ValueError):
    """The message is not a payload v1 batch; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(slots=True)
class Batch:
    """One gateway batch: rows in :data:`COLUMNS` order."""

    gateway: str
    hist: bool
    rows: list[tuple[Any, ...]]
    tenant: str | None = None
    #: Rows refused individually, with the reason (reported as dead letters).
    bad_rows: list[tuple[str, Any]] = field(default_factory=list)


def _row_problem(r: tuple[Any, ...]) -> str | None:
    rid, ts, dev, q, val = r[ID], r[TS], r[DEV], r[Q], r[VAL]
    if type(rid) is not int or rid < 0:
        return "bad id"
    if type(ts) is not int or not _TS_MIN <= ts < _TS_MAX:
        return "bad ts"
    if type(dev) is not str or not dev:
        return "bad dev"
    if type(q) is not str or not q:
        return "bad q"
    if isinstance(val, float):
        if not math.isfinite(val):
            return "non-finite val"
    elif not isinstance(val, int | str):  # bool is an int
        return "bad val"
    if type(r[UNIT]) is not str:
        return "bad unit"
    return None


def _reason(message: str) -> str:
    if "version" in message:
        return "unknown-version"
    if "exceeds" in message:
        return "oversized"
    return "malformed"


def decode(payload: bytes, max_bytes: int = 8 * 1024 * 1024) -> Batch:
    """Decode one MQTT payload; raises :class:`DecodeError`."""
    if len(payload) > max_bytes:
        raise DecodeError("oversized", f"{len(payload)} bytes > {max_bytes}")
    try:
        p = wire.decode(payload)
    except wire.PayloadError as exc:
        raise DecodeError(_reason(str(exc)), str(exc)) from None
    cols = p.cols
    pos = {name: cols.index(name) for name in COLUMNS if name in cols}
    missing = [c for c in _REQUIRED if c not in pos]
    if missing:
        raise DecodeError("malformed", f"missing columns {missing}")
    fast = cols[:7] == _STANDARD[:7]
    idx = [pos.get(c, -1) for c in COLUMNS]
    out: list[tuple[Any, ...]] = []
    bad: list[tuple[str, Any]] = [("bad row shape", None)] * p.bad_rows
    for row in p.rows:
        r = tuple(row[:7]) if fast else tuple(row[i] if i >= 0 else None for i in idx)
        if r[UNIT] is None:
            r = (*r[:UNIT], "", *r[UNIT + 1 :])
        problem = _row_problem(r)
        if problem is not None:
            bad.append((problem, row))
            continue
        out.append(r)
    return Batch(p.gw, p.hist, out, p.tenant, bad)


__all__ = [
    "COLUMNS",
    "DEV",
    "ID",
    "SYNC",
    "TS",
    "UNIT",
    "VAL",
    "Batch",
    "DecodeError",
    "Q",
    "decode",
]
