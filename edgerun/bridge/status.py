"""Gateway liveness as the bridge sees it: the retained status topic, heartbeats and data.

``<prefix>/<gw>/status`` carries retained JSON with ``state`` (``online``/``offline``) and
a time (docs/uplink.md). Each change becomes a point of the gateway status series (up = 1/0
with the time of the change), and the whole fleet's state is re-written every
``status_interval`` so a Graphite dashboard has no gaps between changes.

The time of a status message is read from ``ts``, ``time``, ``since`` or ``ts_ms`` (ms or
s since the epoch, or an ISO 8601 string); when none is usable the receive time is used.
At most :data:`MAX_GATEWAYS` gateways are tracked (a topic flood cannot grow memory); the
least recently heard is forgotten first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from edgerun.bridge.sinks.base import GatewayStatus

MAX_GATEWAYS: Final = 100_000
_ONLINE: Final = frozenset({"online", "up", "connected"})
_OFFLINE: Final = frozenset({"offline", "down", "disconnected", "lost"})


class StatusError(ValueError):
    """A status message that cannot be understood (dead-lettered by the consumer)."""


@dataclass(slots=True)
class _Gw:
    up: bool
    changed_ms: int
    heard: float  # monotonic


def _time_ms(doc: dict[str, Any]) -> int | None:
    for key in ("ts_ms", "ts", "time", "since"):
        v = doc.get(key)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            return int(v) if v > 1e11 else int(v * 1000)
        if isinstance(v, str):
            try:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
            return int(dt.timestamp() * 1000)
    return None


def parse_status(payload: bytes) -> tuple[bool, int | None]:
    """(up, time of change in ms or None) from a status payload; raises StatusError."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatusError(f"status is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise StatusError("status is not a JSON object")
    state = doc.get("state")
    if not isinstance(state, str):
        raise StatusError('status has no "state"')
    s = state.lower()
    if s in _ONLINE:
        return True, _time_ms(doc)
    if s in _OFFLINE:
        return False, _time_ms(doc)
    raise StatusError(f"unknown state {state!r}")


class Fleet:
    """The state of every gateway heard of."""

    def __init__(self) -> None:
        self._gws: dict[str, _Gw] = {}

    def status(self, gw: str, payload: bytes, now_ms: int | None = None) -> GatewayStatus | None:
        """Apply a status message; returns the point to write when the state changed."""
        up, at = parse_status(payload)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        changed_ms = at if at is not None else now
        g = self._gws.pop(gw, None)
        if g is not None and g.up == up and g.changed_ms >= changed_ms:
            g.heard = time.monotonic()
            self._gws[gw] = g
            return None
        self._remember(gw, _Gw(up, changed_ms, time.monotonic()))
        return GatewayStatus(gw, up, changed_ms, changed_ms)

    def heard(self, gw: str) -> None:
        """Data or a heartbeat arrived from ``gw``."""
        g = self._gws.get(gw)
        if g is not None:
            g.heard = time.monotonic()

    def _remember(self, gw: str, g: _Gw) -> None:
        while len(self._gws) >= MAX_GATEWAYS:
            del self._gws[next(iter(self._gws))]
        self._gws[gw] = g

    def online(self) -> int:
        return sum(1 for g in self._gws.values() if g.up)

    def __len__(self) -> int:
        return len(self._gws)

    def snapshot(self, now_ms: int) -> list[GatewayStatus]:
        """Every gateway's current state as a point at ``now_ms``."""
        return [GatewayStatus(gw, g.up, g.changed_ms, now_ms) for gw, g in self._gws.items()]


__all__ = ["MAX_GATEWAYS", "Fleet", "StatusError", "parse_status"]
