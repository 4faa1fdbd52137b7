"""Clock provenance: is the gateway's wall clock known to be synchronized?

RTC-less boards such as the Raspberry Pi boot with the time the system last saved (or 1970)
and jump when NTP syncs. Each reading records whether the clock was known to be in sync when
it was taken, so the datacenter can flag or re-time readings stamped before the sync.

Detection, in order: the kernel's NTP state through ``adjtimex(2)`` (read-only call,
allowed in containers): synchronized when the call does not return ``TIME_ERROR`` and the
``STA_UNSYNC`` status bit is clear — this is what chrony, ntpd and systemd-timesyncd set;
then the marker file ``/run/systemd/timesync/synchronized`` that timesyncd creates. The
``[gateway] clock`` setting can override: ``trusted`` (an RTC or GPS is present) or
``untrusted``. The state is re-read at most every :data:`REFRESH_S` seconds because a
reading's flag must follow a sync within seconds, while the syscall costs a few µs.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Final, Literal

from edgerun.libc import libc

ClockMode = Literal["auto", "trusted", "untrusted"]

REFRESH_S: Final = 5.0
_TIME_ERROR: Final = 5
_STA_UNSYNC: Final = 0x0040
_TIMESYNCD_MARKER: Final = "/run/systemd/timesync/synchronized"


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux); only ``modes`` and ``status`` are used. The
    # tail is padding sized generously so the kernel never writes past the buffer.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


def _kernel_synced() -> bool | None:
    """Ask the kernel; ``None`` when adjtimex is unavailable."""
    lib = libc()
    if lib is None:
        return None
    try:
        tx = _Timex()
        state = lib.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not (tx.status & _STA_UNSYNC)


def detect_synced() -> bool:
    """Best evidence that the wall clock is synchronized right now."""
    kernel = _kernel_synced()
    if kernel:
        return True
    return os.path.exists(_TIMESYNCD_MARKER)


class ClockState:
    """The synchronized flag as a plain attribute, refreshed every :data:`REFRESH_S` seconds.

    The normalizer reads :attr:`synced` for every reading, so it is an attribute, not a
    computed property; :meth:`run` (started by the supervisor) keeps it current.
    """

    def __init__(self, mode: ClockMode = "auto") -> None:
        self.mode: ClockMode = mode
        self.synced = False
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the clock state; returns the new flag."""
        if self.mode == "auto":
            self.synced = detect_synced()
        else:
            self.synced = self.mode == "trusted"
        return self.synced

    async def run(self) -> None:
        """Refresh every :data:`REFRESH_S` seconds until cancelled."""
        import anyio

        while True:
            await anyio.sleep(REFRESH_S)
            before = self.synced
            if self.refresh() != before:
                state = "synchronized" if self.synced else "no longer synchronized"
                logging.getLogger("edgerun.clock").info("wall clock %s", state)


__all__ = ["ClockMode", "ClockState", "detect_synced"]
