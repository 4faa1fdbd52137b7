"""Believable sensor values for the simulator.

Values follow the time of day of the simulated clock: room temperature drifts with a
daily swing plus a small random walk, relative humidity moves opposite to temperature,
and CO2 follows an office occupancy profile (empty at night, rising from 08:00, a lunch
dip, falling after 17:00, weekends quiet), each node with its own offsets from a seeded
generator so runs are reproducible. Each model returns the raw value bytes of its
Standard Sensor type, already quantised as the device would.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime


def occupancy(ts: float) -> float:
    """Fraction of a room's seats taken at Unix time ``ts`` (0-1)."""
    t = datetime.fromtimestamp(ts, UTC)
    if t.weekday() >= 5:
        return 0.05
    h = t.hour + t.minute / 60
    if h < 7.5 or h >= 19:
        return 0.0
    if h < 9:
        return (h - 7.5) / 1.5 * 0.8
    if 12 <= h < 13:
        return 0.45
    if h < 17:
        return 0.85
    return 0.85 * (19 - h) / 2


@dataclass
class SensorModel:
    """One simulated sensor of Standard Sensor type ``type_id``."""

    type_id: int
    rng: random.Random
    offset: float = 0.0
    _walk: float = 0.0
    _last_ts: float = field(default=0.0)
    error: bool = False

    def _step(self, ts: float) -> None:
        dt = max(0.0, ts - self._last_ts) if self._last_ts else 0.0
        self._last_ts = ts
        if dt:
            self._walk += self.rng.gauss(0, 0.02 * math.sqrt(min(dt, 3600)))
            self._walk *= 0.999

    def value(self, ts: float) -> float:
        """The physical value at ``ts`` in the type's unit."""
        self._step(ts)
        t = datetime.fromtimestamp(ts, UTC)
        day = (t.hour * 3600 + t.minute * 60 + t.second) / 86400
        swing = math.sin(2 * math.pi * (day - 0.375))  # peak mid-afternoon
        occ = occupancy(ts)
        if self.type_id == 0x01:
            return 21.0 + self.offset + 1.5 * swing + 1.2 * occ + self._walk
        if self.type_id == 0x80:
            return max(5.0, min(95.0, 45.0 + 3 * self.offset - 6 * swing + 4 * occ + self._walk))
        if self.type_id == 0x02:
            return 420 + 25 * self.offset + 900 * occ + 40 * self._walk
        if self.type_id == 0x10:
            return 1013.25 + self.offset + 2 * self._walk
        if self.type_id == 0x12:
            return max(0.0, 8 + 2 * self.offset + 6 * occ + self._walk)
        if self.type_id == 0xA1:
            return max(0.0, (ts / 3600) % 100000 * (50 + self.offset))
        return 0.0

    def raw(self, ts: float) -> bytes:
        """The raw Standard Sensor bytes the device would send at ``ts``."""
        v = self.value(ts)
        tid = self.type_id
        if tid == 0x01:
            return (0x8000 if self.error else round(v * 16) & 0xFFFF).to_bytes(2, "little")
        if tid == 0x80:
            return bytes((0xEE if self.error else round(v * 2),))
        if tid == 0x02:
            return (0x8000 if self.error else max(0, round(v))).to_bytes(2, "little")
        if tid == 0x10:
            return (0xFFFF if self.error else round(v * 16)).to_bytes(2, "little")
        if tid == 0x12:
            return (0x8000 if self.error else round(v * 4)).to_bytes(2, "little")
        if tid == 0xA1:
            return (0xFFFFFFFF if self.error else round(v)).to_bytes(4, "little")
        if tid == 0xA6:
            return struct.pack("<f", float("nan") if self.error else 21.5 + self._walk)
        return b"\x00" * 2
