"""Moving unusable queue files aside instead of refusing to start.

A file that cannot be used (corrupt, truncated, foreign, a directory in its place, no
permission) is renamed to ``<name>.quarantined-<UTC timestamp>`` next to where it was, so
an operator can inspect it and the gateway starts with a fresh queue. Only the newest
:data:`KEEP` quarantined copies of a name are kept: a card that corrupts the file at every
boot must not fill up with copies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Final

log = logging.getLogger("edgerun.queue")

#: Quarantined copies kept per file name.
KEEP: Final = 2
MARK: Final = ".quarantined-"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"


def quarantine(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Rename ``path + suffix`` for each suffix that exists; returns the new names.

    Raises ``OSError`` when the first (main) file exists and cannot be moved.
    """
    stamp = _stamp()
    moved: list[Path] = []
    for suffix in suffixes:
        src = Path(f"{path}{suffix}")
        if not (src.exists() or src.is_symlink()):
            continue
        dst = Path(f"{path}{suffix}{MARK}{stamp}")
        try:
            os.replace(src, dst)
        except OSError:
            if suffix == suffixes[0]:
                raise
            with contextlib.suppress(OSError):
                src.unlink()
            continue
        log.error("moved unusable queue file %s to %s", src, dst)
        moved.append(dst)
        _prune(src)
    return moved


def _prune(src: Path) -> None:
    olds = sorted(src.parent.glob(src.name + MARK + "*"))
    for old in olds[:-KEEP]:
        with contextlib.suppress(OSError):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()


__all__ = ["KEEP", "MARK", "quarantine"]
