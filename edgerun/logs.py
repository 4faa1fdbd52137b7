"""Logging to stderr: human-readable text by default, JSON lines for log collectors.

Levels can be set overall and per component (``edgerun.queue = "debug"``); journald and
container runtimes add their own timestamps, but ours are kept so lines stay meaningful when
copied elsewhere.
"""

from __future__ import annotations

import json
import logging
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
