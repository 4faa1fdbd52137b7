"""Stable reading ids: 64-bit, strictly increasing per gateway, never reused.

The datacenter dedupes on (gateway id, reading id), so an id handed out twice would make it
drop a real reading. Ids must therefore survive restarts, crashes and the queue file being
wiped or quarantined. The allocator keeps a *high-water mark* (HWM) in a small file of its
own, outside the queue database, and reserves ids in blocks: before an id at or above the
mark is handed out, the mark is moved :data:`BLOCK` ids ahead and the file is replaced
atomically (write temp, fsync, rename, fsync dir). A crash loses at most the unused rest of a
block (harmless gaps). One write per :data:`BLOCK` ids keeps SD-card wear negligible.

When no file can be written (a diskless gateway, a read-only disk) ids start from the wall
clock (ms × 1000), which keeps them increasing across restarts as long as the clock does.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Final

log = logging.getLogger("edgerun.queue.ids")

#: Ids reserved per write of the HWM file: at 300,000 readings/s one write every ~3 s.
BLOCK: Final = 1_000_000
_MAGIC: Final = "edgerun-hwm-v1"


def clock_floor() -> int:
    """An id floor from the wall clock: ms since epoch × 1000."""
    return int(time.time() * 1000) * 1000


class IdAllocator:
    """Hands out ids; :meth:`ensure_above` raises the floor (ids found in the database)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._next = 1
        self._reserved = 0  # ids below this may be handed out without a write
        self.persistent = path is not None
        if path is not None:
            stored = self._read(path)
            if stored is None:
                stored = 0
            self._next = max(stored, 1)
        else:
            self._next = clock_floor()

    @staticmethod
    def _read(path: Path) -> int | None:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read id high-water mark %s: %s; using the clock", path, exc)
            return clock_floor()
        parts = text.split()
        if len(parts) != 2 or parts[0] != _MAGIC or not parts[1].isdigit():
            log.warning("id high-water mark %s is corrupt; using the clock", path)
            return clock_floor()
        return int(parts[1])

    def ensure_above(self, used: int) -> None:
        """Never hand out ``used`` or anything below it."""
        if used >= self._next:
            self._next = used + 1

    @property
    def next_id(self) -> int:
        return self._next

    def take(self, n: int = 1) -> int:
        """Reserve ``n`` consecutive ids and return the first."""
        if self._next + n > self._reserved:
            self._reserve(self._next + n + BLOCK)
        first = self._next
        self._next = first + n
        return first

    def _reserve(self, mark: int) -> None:
        if self.path is None or not self.persistent:
            self._reserved = mark
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, f"{_MAGIC} {mark}\n".encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            # Disk full or read-only: keep going from the clock, which stays ahead of any
            # mark written so far as long as the clock is sane. Retried at the next block.
            log.warning("cannot persist id high-water mark (%s); ids follow the clock", exc)
            self._next = max(self._next, clock_floor())
            self._reserved = max(mark, self._next + BLOCK)
            return
        self._reserved = mark


__all__ = ["BLOCK", "IdAllocator", "clock_floor"]
