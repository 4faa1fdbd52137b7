"""The replay store: command ids already accepted, kept across restarts.

An id is recorded *before* its command runs, in a committed SQLite transaction with
``synchronous=FULL``, so a command that ran can never run again after a crash or power cut,
not even one that was interrupted half-way (its second delivery is refused as
``replayed``; the sender sees the first result or none and decides).

The store is bounded twice: ids older than ``ttl`` are forgotten and at most ``capacity``
ids are kept (oldest first out). Pruning runs every :data:`PRUNE_EVERY` insertions so the
table never grows past ``capacity`` by more than that. A file that cannot be opened or
read (corrupt, truncated, foreign) is moved aside as ``<name>.corrupt`` and a fresh one is
started: the gateway keeps working, the event is logged and counted in :attr:`SeenIds.resets`.
Between these two bounds lies the one gap: an id forgotten by age may be replayed, which is
why commands should carry ``expires_at`` below ``ttl`` (``[commands] require_expiry``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("edgerun.commands")

#: Insertions between two prunes: one DELETE per 64 commands is negligible and keeps the
#: overshoot above ``capacity`` small.
PRUNE_EVERY = 64

_SCHEMA = "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)"


class SeenIds:
    """A persistent, bounded set of command ids. Thread-safe; calls block briefly (disk)."""

    def __init__(self, path: Path, capacity: int, ttl_s: float) -> None:
        self.path = path
        self.capacity = capacity
        self.ttl_ms = int(ttl_s * 1000)
        #: How often the file had to be started afresh.
        self.resets = 0
        self._lock = threading.Lock()
        self._since_prune = 0
        self._db = self._open()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: the id must be on disk before the command acts on hardware.
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        db.execute("SELECT count(*) FROM seen").fetchone()
        return db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error(
                "replay store %s is unreadable (%s); moved aside to %s and started afresh",
                self.path,
                exc,
                aside,
            )
            self.resets += 1
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self.path.replace(aside)
            return self._connect()

    def add(self, command_id: str, now_ms: int | None = None) -> bool:
        """Record ``command_id``; return ``False`` if it was already known (a replay)."""
        at = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            try:
                return self._add(command_id, at)
            except sqlite3.DatabaseError as exc:  # corrupted under us: set aside, go on
                log.error("replay store %s failed (%s); reopening it", self.path, exc)
                self._db.close()
                self._db = self._open()
                return self._add(command_id, at)

    def _add(self, command_id: str, at: int) -> bool:
        row = self._db.execute("SELECT at_ms FROM seen WHERE id = ?", (command_id,)).fetchone()
        if row is not None and row[0] >= at - self.ttl_ms:
            return False
        self._db.execute("INSERT OR REPLACE INTO seen (id, at_ms) VALUES (?, ?)", (command_id, at))
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._prune(at)
        return True

    def _prune(self, now_ms: int) -> None:
        self._since_prune = 0
        self._db.execute("DELETE FROM seen WHERE at_ms < ?", (now_ms - self.ttl_ms,))
        self._db.execute(
            "DELETE FROM seen WHERE id NOT IN "
            "(SELECT id FROM seen ORDER BY at_ms DESC, rowid DESC LIMIT ?)",
            (self.capacity,),
        )

    def prune(self, now_ms: int | None = None) -> None:
        """Apply both bounds now (also done automatically every :data:`PRUNE_EVERY` adds)."""
        with self._lock:
            self._prune(int(time.time() * 1000) if now_ms is None else now_ms)

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM seen").fetchone()
            return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["PRUNE_EVERY", "SeenIds"]
