"""The dedupe window: which (gateway, reading id) pairs were already written.

Gateways hand out reading ids strictly increasing and never reuse them, and a batch is a
run of consecutive ids, so what was written is kept as *id ranges* per gateway: a gateway
that streams without interruption needs one range, each outage or reordering adds one.
Checking a batch is a binary search; recording it usually extends the last range.

The window is bounded two ways, so memory and file stay small whatever the gateways send:
at most ``max_ranges_per_gateway`` ranges per gateway (the lowest, i.e. oldest, are
forgotten first) and at most ``max_gateways`` gateways (the least recently seen is
forgotten). A reading older than the window is written again, which both databases treat
as an overwrite of the same point: the window saves work and reports duplicates, the
idempotent writes are what guarantee correctness.

The ranges live in a SQLite file (WAL, ``synchronous=NORMAL``) rewritten per changed
gateway at each commit, which the consumer does after the sinks wrote and before it
acknowledges the MQTT messages, so the window survives a restart or a SIGKILL. A corrupt
file is moved aside and a fresh one started (counted, never fatal).
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("edgerun.bridge.dedupe")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ranges ("
    " gw TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,"
    " PRIMARY KEY (gw, lo)) WITHOUT ROWID"
)


class _Ranges:
    """Sorted, disjoint, non-adjacent closed ranges of ids."""

    __slots__ = ("his", "los")

    def __init__(self) -> None:
        self.los: list[int] = []
        self.his: list[int] = []

    def contains(self, x: int) -> bool:
        i = bisect.bisect_right(self.los, x) - 1
        return i >= 0 and x <= self.his[i]

    def overlaps(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.los, hi) - 1
        return i >= 0 and self.his[i] >= lo

    def add(self, lo: int, hi: int) -> None:
        los, his = self.los, self.his
        # Fast path: extends or follows the last range (the streaming case).
        if los and lo > his[-1]:
            if lo == his[-1] + 1:
                his[-1] = hi
            else:
                los.append(lo)
                his.append(hi)
            return
        i = bisect.bisect_left(his, lo - 1)  # first range that ends at or after lo - 1
        j = bisect.bisect_right(los, hi + 1)  # ranges before j start at or before hi + 1
        if i < j:
            lo = min(lo, los[i])
            hi = max(hi, his[j - 1])
        los[i:j] = [lo]
        his[i:j] = [hi]

    def trim(self, keep: int) -> None:
        if len(self.los) > keep:
            del self.los[: len(self.los) - keep]
            del self.his[: len(self.his) - keep]


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Group ids into runs of consecutive values (input in any order)."""
    out: list[tuple[int, int]] = []
    for x in sorted(ids):
        if out and x <= out[-1][1] + 1:
            if x > out[-1][1]:
                out[-1] = (out[-1][0], x)
        else:
            out.append((x, x))
    return out


class DedupeStore:
    """The window; ``path=None`` keeps it in memory (tests, or a deliberate choice)."""

    def __init__(
        self,
        path: Path | None,
        max_ranges_per_gateway: int = 4096,
        max_gateways: int = 100_000,
    ) -> None:
        self.path = path
        self.max_ranges = max(1, max_ranges_per_gateway)
        self.max_gateways = max(1, max_gateways)
        self._gws: dict[str, _Ranges] = {}
        self._dirty: set[str] = set()
        self._forgotten: set[str] = set()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        self.commits = 0
        self.commit_errors = 0
        self.corrupt_files = 0
        if path is not None:
            self._open(path)

    # ------------------------------------------------------------------ persistence

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect(path)
            self._load()
        except sqlite3.DatabaseError as exc:
            self.corrupt_files += 1
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.error("dedupe file %s is unreadable (%s); moved to %s", path, exc, aside)
            if self._db is not None:
                self._db.close()
            path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            self._gws.clear()
            self._db = self._connect(path)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        return db

    def _load(self) -> None:
        assert self._db is not None
        for gw, lo, hi in self._db.execute("SELECT gw, lo, hi FROM ranges ORDER BY gw, lo"):
            r = self._gws.get(gw)
            if r is None:
                r = self._gws[gw] = _Ranges()
            r.add(int(lo), int(hi))

    def commit(self) -> None:
        """Persist the ranges changed since the last commit."""
        self.commits += 1
        if self._db is None or not (self._dirty or self._forgotten):
            self._dirty.clear()
            self._forgotten.clear()
            return
        db = self._db
        try:
            db.execute("BEGIN")
            for gw in self._forgotten | self._dirty:
                db.execute("DELETE FROM ranges WHERE gw = ?", (gw,))
            for gw in self._dirty:
                r = self._gws.get(gw)
                if r is not None:
                    db.executemany(
                        "INSERT INTO ranges (gw, lo, hi) VALUES (?, ?, ?)",
                        [(gw, lo, hi) for lo, hi in zip(r.los, r.his, strict=True)],
                    )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            # The window is an optimisation: on a full disk keep working from memory.
            self.commit_errors += 1
            log.warning("cannot persist the dedupe window: %s", exc)
            if db.in_transaction:
                db.execute("ROLLBACK")
            return
        self._dirty.clear()
        self._forgotten.clear()

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None

    # -------------------------------------------------------------------- the window

    def _ranges(self, gw: str) -> _Ranges:
        r = self._gws.pop(gw, None)
        if r is None:
            r = _Ranges()
            while len(self._gws) >= self.max_gateways:
                old = next(iter(self._gws))
                del self._gws[old]
                self._forgotten.add(old)
                self._dirty.discard(old)
        self._gws[gw] = r  # most recently used last
        return r

    def claim(self, gw: str, ids: list[int]) -> list[bool]:
        """Mark ``ids`` as taken; returns per id whether it is *new*.

        Ids already in the window (or repeated within ``ids``) come back ``False`` and are
        counted in :attr:`hits`. The marks become durable at the next :meth:`commit`.
        """
        if not ids:
            return []
        r = self._ranges(gw)
        lo, hi = min(ids), max(ids)
        if not r.overlaps(lo, hi) and hi - lo + 1 == len(ids):
            r.add(lo, hi)  # the common case: a fresh run of consecutive ids
            self._after_add(gw, r)
            return [True] * len(ids)
        fresh: list[bool] = []
        seen: set[int] = set()
        for x in ids:
            new = x not in seen and not r.contains(x)
            seen.add(x)
            fresh.append(new)
        for a, b in runs(x for x, f in zip(ids, fresh, strict=True) if f):
            r.add(a, b)
        self.hits += fresh.count(False)
        self._after_add(gw, r)
        return fresh

    def _after_add(self, gw: str, r: _Ranges) -> None:
        r.trim(self.max_ranges)
        self._dirty.add(gw)

    def stats(self) -> dict[str, Any]:
        return {
            "dedupe_hits": self.hits,
            "dedupe_gateways": len(self._gws),
            "dedupe_ranges": sum(len(r.los) for r in self._gws.values()),
            "dedupe_commit_errors": self.commit_errors,
            "dedupe_corrupt_files": self.corrupt_files,
        }


__all__ = ["DedupeStore", "runs"]
