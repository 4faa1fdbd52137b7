"""The gateway's status and heartbeat messages (JSON).

Status goes retained to ``<prefix>/<gw>/status``: ``online`` after every connect (a birth
message re-published on each connect because retained messages do not survive a node's
death on every clustered broker), ``offline`` as the Last Will and on a clean shutdown. The
heartbeat (``<prefix>/<gw>/heartbeat``, not retained) carries time, queue depth and backlog
age, so the datacenter can tell a dead gateway by silence where the Last Will is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import edgerun
from edgerun.queue.base import QueueStats


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


class StatusBuilder:
    """Builds status and heartbeat payloads for one gateway."""

    def __init__(self, gateway: str, extra: Callable[[], dict[str, Any]]) -> None:
        self.gateway = gateway
        self.started_ms = time.time_ns() // 1_000_000
        self._extra = extra

    def _base(self, state: str) -> dict[str, Any]:
        return {
            "state": state,
            "gw": self.gateway,
            "version": edgerun.__version__,
            "started": self.started_ms,
            "ts": time.time_ns() // 1_000_000,
        }

    def status(self, state: str, reason: str | None = None) -> bytes:
        doc = self._base(state)
        if reason is not None:
            doc["reason"] = reason
        try:
            extra = self._extra()
        except Exception as exc:  # a broken status callback must not stop the uplink
            extra = {"status_error": repr(exc)}
        for key, value in extra.items():
            doc.setdefault(key, value)
        return _dumps(doc)

    def will(self) -> bytes:
        """The Last Will: what the broker publishes if the connection dies uncleanly."""
        return _dumps({**self._base("offline"), "reason": "connection lost", "ts": None})

    def heartbeat(self, queue: QueueStats, inflight: int) -> bytes:
        doc = self._base("online")
        doc.update(
            queue_depth=queue.depth_readings,
            queue_bytes=queue.depth_bytes,
            oldest_age_s=round(queue.oldest_age_s, 3),
            inflight=inflight,
        )
        return _dumps(doc)


__all__ = ["StatusBuilder"]
