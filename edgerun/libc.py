"""The two C library calls the core needs and Python does not expose: ``adjtimex`` (is the
clock synchronized?) and ``malloc_trim`` (give freed heap memory back to the system).

The library is the process's own: ``dlopen(NULL)`` finds the symbols of the C library the
interpreter is linked against, glibc or musl alike. ``ctypes.util.find_library`` is not used:
on Linux it runs ``ldconfig -p`` in a subprocess on every call.

Why trim: CPython and SQLite return freed memory to glibc's allocator, which keeps it for
reuse. After start-up (config parsing, plugin imports, compiling regular expressions) and
after a backlog drain that leaves megabytes free, that memory would stay in the gateway's RSS
for its whole life. ``malloc_trim(0)`` releases the free pages of every arena (glibc ≥ 2.8
also releases pages in the middle of the heap). It costs well under a millisecond on a heap
of a few megabytes, so the supervisor calls it once when ready and then every
:data:`TRIM_INTERVAL_S` seconds. musl has no ``malloc_trim`` and returns memory by itself;
there the call is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from typing import Final

log = logging.getLogger("edgerun.libc")

#: Between two trims. Long enough to be free (one call per five minutes), short enough that
#: memory freed after a backlog drain leaves the RSS within minutes.
TRIM_INTERVAL_S: Final = 300.0


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The process's C library, loaded once; ``None`` where it cannot be opened."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError as exc:  # a static interpreter without dlopen
        log.debug("C library not available through ctypes: %s", exc)
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    lib = libc()
    trim = getattr(lib, "malloc_trim", None) if lib is not None else None
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
    return trim


def malloc_trim() -> bool:
    """Release free heap pages to the system; ``False`` where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def trim_periodically(interval: float = TRIM_INTERVAL_S) -> None:
    """Trim now and then every ``interval`` seconds until cancelled."""
    import anyio

    while True:
        malloc_trim()
        await anyio.sleep(interval)


__all__ = ["TRIM_INTERVAL_S", "libc", "malloc_trim", "trim_periodically"]
