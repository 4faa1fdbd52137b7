"""Gateway liveness as the bridge sees it: the retained status topic, heartbeats and data.

``<prefix>/<gw>/status`` carries retained JSON with ``state`` (``online``/``offline``) and
a time (docs/uplink.md). Each change becomes a point of the gateway status series (up = 1/0
with the time of the change), and the whole fleet's state is re-written every
``status_interval`` so a Graphite dashboard has no gaps between changes.

The Last Will is lost on several clustered brokers when the gateway's broker node dies
(../shared/brokers.md), so the retained status alone can say ``online`` forever. As
docs/uplink.md recommends, a gateway heard from by neither status, heartbeat nor data for
``offline_after`` (90 s: three of the uplink's default 30 s heartbeat intervals) counts as
offline; a heartbeat or data from it makes it online again.

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

    def __init__(self, offline_after: float = 90.0) -> None:
        self._gws: dict[str, _Gw] = {}
        #: Seconds of silence (no status, heartbeat or data) after which an ``online``
        #: gateway counts as offline; 0 disables the rule.
        self.offline_after = offline_after

    def status(self, gw: str, payload: bytes, now_ms: int | None = None) -> GatewayStatus | None:
        """Apply a status message; returns the point to write when the state changed."""
        up, at = parse_status(payload)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return self._set(gw, up, at if at is not None else now)

    def heard(self, gw: str, now_ms: int | None = None) -> GatewayStatus | None:
        """Data or a heartbeat arrived from ``gw``: it is online (a change if it was not)."""
        g = self._gws.get(gw)
        if g is not None and g.up:
            g.heard = time.monotonic()
            return None
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return self._set(gw, True, now)

    def _set(self, gw: str, up: bool, at_ms: int) -> GatewayStatus | None:
        g = self._gws.pop(gw, None)
        # Same state again (a birth message after every reconnect), or an older message than
        # the change already recorded: nothing changes.
        if g is not None and (g.up == up or at_ms < g.changed_ms):
            g.heard = time.monotonic()
            self._gws[gw] = g
            return None
        self._remember(gw, _Gw(up, at_ms, time.monotonic()))
        return GatewayStatus(gw, up, at_ms, at_ms)

    def expire(self, now_ms: int | None = None) -> list[GatewayStatus]:
        """Mark gateways silent for ``offline_after`` as offline; returns the changes."""
        if self.offline_after <= 0:
            return []
        limit = time.monotonic() - self.offline_after
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        out = []
        for gw, g in self._gws.items():
            if g.up and g.heard < limit:
                g.up = False
                g.changed_ms = now
                out.append(GatewayStatus(gw, False, now, now))
        return out

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
