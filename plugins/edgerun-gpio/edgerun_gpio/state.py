"""The driver's persisted state: counter totals and output states, one small JSON file.

``<data_dir>/state.json`` holds ``{"version": 1, "counters": {name: total},
"outputs": {name: bool}, "clean": bool}``. It is written atomically (temporary file,
fsync, rename, fsync of the directory), so a crash or power cut leaves either the old or
the new file, never a torn one. ``clean`` is false while any output is away from its safe
state: finding it false at start means the previous run ended without restoring them (a
crash, SIGKILL, power loss), which the driver logs and counts before applying the safe
states again. A corrupt file is moved aside (``state.json.corrupt``) and the driver starts
from zero totals: a damaged SD card sector costs counts, never the gateway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

import msgspec

VERSION = 1


class GpioState(msgspec.Struct):
    counters: dict[str, int] = msgspec.field(default_factory=dict)
    outputs: dict[str, bool] = msgspec.field(default_factory=dict)
    clean: bool = True


def load_state(path: Path, log: logging.Logger) -> tuple[GpioState, bool]:
    """Read the state; returns ``(state, corrupt)``. A missing file is a fresh start."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise ValueError("unknown layout")
        counters = {str(k): int(v) for k, v in raw["counters"].items() if int(v) >= 0}
        outputs = {str(k): bool(v) for k, v in raw["outputs"].items()}
        return GpioState(counters, outputs, bool(raw["clean"])), False
    except FileNotFoundError:
        return GpioState(), False
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        aside = path.with_name(path.name + ".corrupt")
        log.error(
            "state file %s is unreadable (%s): moved to %s, totals start at 0", path, exc, aside
        )
        with contextlib.suppress(OSError):
            path.replace(aside)
        return GpioState(), True


def save_state(path: Path, state: GpioState) -> None:
    """Write the state atomically (blocking: call it from a worker thread)."""
    body = json.dumps(
        {
            "version": VERSION,
            "counters": state.counters,
            "outputs": state.outputs,
            "clean": state.clean,
        },
        sort_keys=True,
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


__all__ = ["GpioState", "load_state", "save_state"]
