"""Logging to stderr: human-readable text by default, JSON lines for log collectors.

Levels can be set overall and per component (``edgerun.queue = "debug"``). Container
runtimes add their own timestamps, but ours are kept so lines stay meaningful when copied
elsewhere. When stderr is the journal (``JOURNAL_STREAM`` names stderr's device:inode), text
lines carry sd-daemon(3) ``<N>`` priority prefixes instead of a timestamp, so
``journalctl -p warning`` filters them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO 8601), level, logger, msg, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _priority(levelno: int) -> int:
    """syslog priority for a logging level: <3> error and above, <4> warning, <6>, <7>."""
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """``<N>level logger: msg``: journald reads the prefix as the priority and adds the time."""

    def __init__(self) -> None:
        super().__init__("%(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        # Every line of a multi-line message (a traceback) keeps the record's priority.
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stderr_is_journal() -> bool:
    """True when ``JOURNAL_STREAM`` (``dev:ino``) is the file stderr writes to."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False


def parse_level(name: str) -> int:
    """``"info"`` → ``logging.INFO``; raises ``ValueError`` for unknown names."""
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(_LEVELS)}") from None


def setup_logging(
    level: str = "info", fmt: str = "text", components: Mapping[str, str] | None = None
) -> None:
    """Configure the root logger once; safe to call again (replaces our handler)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif stderr_is_journal():
        handler.setFormatter(JournalFormatter())
    else:
        fmt_text = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(fmt_text))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_edgerun", False):
            root.removeHandler(old)
    handler._edgerun = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(parse_level(level))
    for name, lvl in (components or {}).items():
        logger_name = name if name.startswith("edgerun") else f"edgerun.{name}"
        logging.getLogger(logger_name).setLevel(parse_level(lvl))
