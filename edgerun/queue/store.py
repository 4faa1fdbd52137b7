"""SQLite storage of chunks: one row per chunk, used only from the queue's worker thread.

Schema: ``chunks(first_id PRIMARY KEY, count, nbytes, accepted_ms, oldest_ts, crc, blob)``
with the blob last, so reading the index at start touches only the table's leaf pages and
never the blobs' overflow pages.

Settings and why:

- ``journal_mode=WAL`` + ``synchronous=FULL``: a commit returns only after the WAL is
  fsynced, so a committed chunk survives a power cut; a crash never corrupts the file.
- ``secure_delete=OFF`` (Debian builds it on): zeroing freed pages would double the writes.
- ``auto_vacuum=INCREMENTAL``: pages freed by acks are reused; when the file ends up over its
  budget anyway, the free pages at its end are given back (``incremental_vacuum``).
- ``wal_autocheckpoint`` at a quarter of the WAL budget and ``journal_size_limit`` at the
  budget: with one connection every checkpoint completes, so the WAL file stays within the
  budget as long as one transaction needs less than three quarters of it (the queue cuts
  commits at an eighth of it in encoded readings, which with page overhead, b-tree, free
  list and pointer-map pages stays well below).
- ``cache_size`` 1 MiB: the page cache counts against the gateway's memory.

Each blob carries a CRC-32 because SQLite does not checksum pages: a flipped bit in a blob
would otherwise ship upstream as garbage. A bad blob is dropped and counted ``corrupt``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
import zlib
from pathlib import Path
from typing import Final

import msgspec

from edgerun.queue.base import Chunk
from edgerun.queue.quarantine import quarantine

log = logging.getLogger("edgerun.queue.store")

APP_ID: Final = 0x45525151  # "ERQQ"
SCHEMA_VERSION: Final = 1
DB_NAME: Final = "readings.db"
PAGE_CACHE_KIB: Final = 1024

#: SQLite primary result codes that say "the disk, not the file, is the problem": the file
#: is kept and the queue runs degraded until the condition clears. CANTOPEN is among them
#: because the file's type and modes are checked before connecting: what is left is a
#: read-only filesystem (no ``-shm`` can be made) or a lack of file descriptors.
_TRANSIENT: Final = frozenset(
    {5, 6, 7, 8, 10, 13, 14}
)  # BUSY LOCKED NOMEM READONLY IOERR FULL CANTOPEN

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS chunks (
    first_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    nbytes INTEGER NOT NULL,
    accepted_ms INTEGER NOT NULL,
    oldest_ts INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    blob BLOB NOT NULL
)
"""


class StorageError(Exception):
    """The disk cannot be used right now (full, read-only, failing); retry later."""

    def __init__(self, message: str, full: bool = False) -> None:
        super().__init__(message)
        #: The disk is full: the file can still be read and shrunk by deletes.
        self.full = full


class DamagedError(StorageError):
    """A commit found the file damaged: verify it (and quarantine it) when reconnecting."""


class _Unusable(Exception):
    """The file itself is bad: quarantine it."""


class Opened(msgspec.Struct):
    """What :meth:`Store.open` found."""

    chunks: list[Chunk]
    quarantined: list[Path] = msgspec.field(default_factory=list)
    bad_rows: int = 0  # readings in index rows that made no sense (dropped as corrupt)


class CommitInfo(msgspec.Struct):
    seconds: float
    disk_bytes: int  # database + WAL + shared-memory index files
    used_bytes: int  # pages holding data (file size minus free pages)


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return _code(exc) in _TRANSIENT
    return isinstance(exc, OSError)


class Store:
    """The database file of one queue directory."""

    def __init__(self, directory: Path, wal_bytes: int, data_bytes: int, verify: bool) -> None:
        self.dir = directory
        self.path = directory / DB_NAME
        self.wal_bytes = wal_bytes
        self.data_bytes = data_bytes
        self.verify = verify
        self._con: sqlite3.Connection | None = None
        self._page = 4096

    # ----------------------------------------------------------------- opening
    def open(self) -> Opened:
        """Open (quarantining what cannot be used) and read the chunk index."""
        quarantined: list[Path] = []
        self._ensure_dir(quarantined)
        for _attempt in range(3):
            try:
                self._check_path()
                con = self._connect(verify=self.verify)
                try:
                    chunks, bad = self._read_index(con)
                except BaseException:
                    con.close()
                    raise
                self._con = con
                return Opened(chunks, quarantined, bad)
            except (sqlite3.Error, _Unusable) as exc:
                if isinstance(exc, sqlite3.Error) and is_transient(exc):
                    raise StorageError(f"cannot open {self.path}: {exc}") from exc
                log.error("queue file %s is unusable (%s); moving it aside", self.path, exc)
                try:
                    quarantined.extend(quarantine(self.path, ("", "-wal", "-shm", "-journal")))
                except OSError as mv:
                    raise StorageError(f"cannot move {self.path} aside: {mv}") from mv
            except OSError as exc:
                raise StorageError(f"cannot open {self.path}: {exc}") from exc
        raise StorageError(f"{self.path} keeps failing after quarantine")

    def reconnect(self, check: bool) -> list[Path]:
        """Connect again after a failure (the index is already known).

        With ``check`` (a commit found the file damaged) the file is verified and, when it
        fails, moved aside and replaced by a fresh one; returns what was moved aside.
        """
        self.close()
        try:
            self._check_path()
            self._con = self._connect(verify=check)
            return []
        except sqlite3.Error as exc:
            if is_transient(exc):
                raise StorageError(f"cannot reopen {self.path}: {exc}") from exc
            reason: Exception = exc
        except _Unusable as exc:
            reason = exc
        except OSError as exc:
            raise StorageError(f"cannot reopen {self.path}: {exc}") from exc
        log.error("queue file %s is unusable (%s); moving it aside", self.path, reason)
        try:
            moved = quarantine(self.path, ("", "-wal", "-shm", "-journal"))
            self._con = self._connect(verify=False)
        except (OSError, sqlite3.Error, _Unusable) as exc:
            raise StorageError(f"cannot replace {self.path}: {exc}") from exc
        return moved

    def _ensure_dir(self, quarantined: list[Path]) -> None:
        d = self.dir
        try:
            if (d.exists() or d.is_symlink()) and not d.is_dir():
                log.error("%s is not a directory; moving it aside", d)
                quarantined.extend(quarantine(d, ("",)))
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {d}: {exc}") from exc

    def _check_path(self) -> None:
        p = self.path
        if p.is_symlink() or (p.exists() and not p.is_file()):
            raise _Unusable("not a regular file")
        if p.exists() and not os.access(p, os.R_OK | os.W_OK):
            if not os.access(self.dir, os.W_OK):
                raise OSError(f"{self.dir} is not writable")
            raise _Unusable("no permission to read and write it")

    def _connect(self, verify: bool) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA secure_delete=OFF")
            con.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            fresh = not con.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='table'"
            ).fetchone()[0]
            if fresh:
                con.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"WAL mode unavailable (journal_mode={mode})")
            con.execute("PRAGMA synchronous=FULL")
            self._page = int(con.execute("PRAGMA page_size").fetchone()[0])
            con.execute(f"PRAGMA wal_autocheckpoint={max(4, self.wal_bytes // 4 // self._page)}")
            con.execute(f"PRAGMA journal_size_limit={self.wal_bytes}")
            if fresh:
                con.execute("BEGIN IMMEDIATE")
                con.execute(_SCHEMA)
                con.execute(f"PRAGMA application_id={APP_ID}")
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                con.execute("COMMIT")
            else:
                app = con.execute("PRAGMA application_id").fetchone()[0]
                ver = con.execute("PRAGMA user_version").fetchone()[0]
                if app != APP_ID or ver != SCHEMA_VERSION:
                    raise _Unusable(f"not an edgerun queue (application_id={app}, version={ver})")
            if fresh or not verify:
                return con
            rows = con.execute("PRAGMA quick_check(5)").fetchall()
            if rows != [("ok",)]:
                raise _Unusable("quick_check: " + "; ".join(str(r[0]) for r in rows))
            return con
        except BaseException:
            con.close()
            raise

    def _read_index(self, con: sqlite3.Connection) -> tuple[list[Chunk], int]:
        cur = con.execute(
            "SELECT first_id, count, nbytes, accepted_ms, oldest_ts FROM chunks ORDER BY first_id"
        )
        chunks: list[Chunk] = []
        bad: list[int] = []
        bad_readings = 0
        next_free = -(2**63)
        for first, n, nbytes, acc, oldest in cur:
            if not (
                isinstance(n, int) and n > 0 and isinstance(nbytes, int) and nbytes > 0
            ) or not (isinstance(first, int) and first >= next_free):
                bad.append(first)
                bad_readings += n if isinstance(n, int) and n > 0 else 0
                continue
            chunks.append(Chunk(first, n, b"", int(acc), int(oldest), nbytes, 2))
            next_free = first + n
        if bad:
            con.execute("BEGIN IMMEDIATE")
            con.executemany("DELETE FROM chunks WHERE first_id=?", [(b,) for b in bad])
            con.execute("COMMIT")
        return chunks, bad_readings

    # ------------------------------------------------------------------ writing
    def commit(self, inserts: list[Chunk], deletes: list[int]) -> CommitInfo:
        """Delete, insert and commit in one transaction (durable when it returns)."""
        con = self._require()
        t0 = time.perf_counter()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                if deletes:
                    con.executemany("DELETE FROM chunks WHERE first_id=?", [(d,) for d in deletes])
                if inserts:
                    con.executemany(
                        "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?)",
                        [
                            (
                                c.first_id,
                                c.count,
                                c.nbytes,
                                c.accepted_ms,
                                c.oldest_ts_ms,
                                zlib.crc32(c.blob),
                                c.blob,
                            )
                            for c in inserts
                        ],
                    )
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if is_transient(exc):
                full = _code(exc) == 13
                if full:
                    self._rewind_wal(con)
                raise StorageError(str(exc), full=full) from exc
            raise DamagedError(str(exc)) from exc
        except OSError as exc:
            raise StorageError(str(exc)) from exc
        seconds = time.perf_counter() - t0
        return CommitInfo(seconds, self.disk_bytes(), self._shrink(con))

    def _rewind_wal(self, con: sqlite3.Connection) -> None:
        """After a full disk: checkpoint so the next commit writes the WAL from its start.

        The WAL file keeps its size, so a commit that fits in it needs no new blocks; one
        appended at its end would.
        """
        try:
            con.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as exc:
            log.debug("checkpoint after a full disk failed: %s", exc)

    def _shrink(self, con: sqlite3.Connection) -> int:
        """Give free pages back when the file is over its budget; returns the used bytes.

        Runs after the commit, which stands whatever happens here; -1 when unknown.
        """
        try:
            pages, free = self._pages(con)
            if pages * self._page > self.data_bytes and free:
                excess = pages - self.data_bytes // self._page
                con.execute(f"PRAGMA incremental_vacuum({min(free, excess)})")
                pages, free = self._pages(con)
        except (sqlite3.Error, OSError) as exc:
            log.debug("incremental vacuum of %s failed: %s", self.path, exc)
            return -1
        return (pages - free) * self._page

    @staticmethod
    def _pages(con: sqlite3.Connection) -> tuple[int, int]:
        pages = int(con.execute("PRAGMA page_count").fetchone()[0])
        free = int(con.execute("PRAGMA freelist_count").fetchone()[0])
        return pages, free

    # ------------------------------------------------------------------ reading
    def load(self, first_ids: list[int]) -> dict[int, bytes | None]:
        """Blobs by first id; ``None`` for a chunk that is missing or fails its check."""
        con = self._require()
        out: dict[int, bytes | None] = dict.fromkeys(first_ids)
        try:
            for i in range(0, len(first_ids), 500):
                part = first_ids[i : i + 500]
                marks = ",".join("?" * len(part))
                for first, nbytes, crc, blob in con.execute(
                    f"SELECT first_id, nbytes, crc, blob FROM chunks WHERE first_id IN ({marks})",
                    part,
                ):
                    ok = isinstance(blob, bytes) and len(blob) == nbytes and zlib.crc32(blob) == crc
                    out[first] = blob if ok else None
        except sqlite3.Error as exc:
            if is_transient(exc):
                raise StorageError(str(exc)) from exc
            log.error("reading chunks from %s failed: %s", self.path, exc)
        return out

    # ------------------------------------------------------------------ sizes
    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def _require(self) -> sqlite3.Connection:
        if self._con is None:
            raise StorageError("the queue database is not open")
        return self._con

    def close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with contextlib.suppress(sqlite3.Error):
                con.close()


__all__ = [
    "DB_NAME",
    "CommitInfo",
    "DamagedError",
    "Opened",
    "StorageError",
    "Store",
    "is_transient",
]
